//! A blob's bytes as a visit hands them to the per-blob work: a slice of the decoded frame,
//! which the work can keep beyond the call without copying it ([`Blob::share`]).
//!
//! Frames are decoded into buffers that go back to a small pool when the last blob kept from
//! them is dropped, so a consumer that keeps blobs (the Python module's `iter_files`) costs
//! neither a copy per blob nor fresh pages per frame, and one that keeps nothing reuses its
//! thread's buffer as before.

use std::ops::{Deref, Range};
use std::sync::{Arc, Mutex};

/// Decoded frames kept for reuse, at most this many...
const POOL_BUFFERS: usize = 16;
/// ...and none larger than this (a frame holding one huge blob is as large as the blob; kept,
/// sixteen of them would pin gigabytes).
const POOL_BUFFER_BYTES: usize = 32 << 20;

/// Buffers waiting to be decoded into again.
#[derive(Default)]
pub(crate) struct BufPool(Mutex<Vec<Vec<u8>>>);

impl BufPool {
    fn take(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
    }

    /// Lets go of the waiting buffers beyond `keep` (between batches: what a consumer kept
    /// and gave back need not wait for the next one).
    pub(crate) fn trim(&self, keep: usize) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).truncate(keep);
    }

    fn give(&self, v: Vec<u8>) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_BUFFERS && v.capacity() <= POOL_BUFFER_BYTES {
            pool.push(v);
        }
    }
}

/// A decoded frame (or a journal blob), returned to its pool when dropped.
pub(crate) struct FrameBuf {
    data: Vec<u8>,
    home: Option<Arc<BufPool>>,
}

impl Drop for FrameBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.home.take() {
            pool.give(std::mem::take(&mut self.data));
        }
    }
}

impl FrameBuf {
    /// Bytes owned outright (a journal blob), not pooled.
    pub(crate) fn owned(data: Vec<u8>) -> Arc<FrameBuf> {
        Arc::new(FrameBuf { data, home: None })
    }

    /// Its bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The buffer to decode the next frame into: `slot`'s own when nobody kept a blob of the
    /// frame it holds, else one from `pool` (which `slot` then holds).
    pub(crate) fn reusable<'a>(slot: &'a mut Arc<FrameBuf>, pool: &Arc<BufPool>) -> &'a mut Vec<u8> {
        if Arc::get_mut(slot).is_none() {
            *slot = Arc::new(FrameBuf { data: pool.take(), home: Some(pool.clone()) });
        }
        &mut Arc::get_mut(slot).expect("a fresh Arc has one owner").data
    }

    /// The slot's bytes made its own (out of their pool, without a copy) and shared: for a
    /// frame kept past the visit that decoded it.
    pub(crate) fn detach(slot: &mut Arc<FrameBuf>) -> Arc<FrameBuf> {
        if let Some(f) = Arc::get_mut(slot)
            && f.home.is_some()
        {
            *slot = FrameBuf::owned(std::mem::take(&mut f.data));
        }
        slot.clone()
    }

    /// A worker's slot: a buffer waiting in `pool` (empty when none waits), which goes back
    /// to it when dropped, so the workers of the next batch of a visit start with grown
    /// buffers instead of faulting in fresh pages for their first frames.
    pub(crate) fn from_pool(pool: &Arc<BufPool>) -> Arc<FrameBuf> {
        Arc::new(FrameBuf { data: pool.take(), home: Some(pool.clone()) })
    }
}

/// One blob's bytes during the work call: derefs to `&[u8]`.
pub struct Blob<'a> {
    buf: &'a Arc<FrameBuf>,
    range: Range<usize>,
}

impl<'a> Blob<'a> {
    pub(crate) fn new(buf: &'a Arc<FrameBuf>, range: Range<usize>) -> Blob<'a> {
        debug_assert!(range.end <= buf.data.len());
        Blob { buf, range }
    }

    /// All of `buf`.
    pub(crate) fn whole(buf: &'a Arc<FrameBuf>) -> Blob<'a> {
        Blob { buf, range: 0..buf.data.len() }
    }

    /// The bytes, kept past the work call without a copy (the frame they lie in stays in
    /// memory as long as any blob shared from it does).
    pub fn share(&self) -> SharedBlob {
        SharedBlob { buf: self.buf.clone(), range: self.range.clone() }
    }
}

impl Deref for Blob<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf.data[self.range.clone()]
    }
}

impl AsRef<[u8]> for Blob<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// A blob's bytes kept beyond the visit's work call.
#[derive(Clone)]
pub struct SharedBlob {
    buf: Arc<FrameBuf>,
    range: Range<usize>,
}

impl SharedBlob {
    /// Bytes held in memory for this blob: the whole frame it lies in (shared with the other
    /// blobs kept from that frame, see [`SharedBlob::same_frame`]).
    pub fn frame_bytes(&self) -> usize {
        self.buf.data.capacity()
    }

    /// Whether both lie in the same decoded frame.
    pub fn same_frame(&self, other: &SharedBlob) -> bool {
        Arc::ptr_eq(&self.buf, &other.buf)
    }
}

impl Deref for SharedBlob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf.data[self.range.clone()]
    }
}

impl AsRef<[u8]> for SharedBlob {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for SharedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedBlob({} bytes)", self.range.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled(pool: &BufPool) -> usize {
        pool.0.lock().expect("pool lock").len()
    }

    #[test]
    fn a_kept_blob_keeps_its_frame_and_the_slot_moves_on() {
        let pool = Arc::new(BufPool::default());
        let mut slot = FrameBuf::from_pool(&pool);
        FrameBuf::reusable(&mut slot, &pool).extend_from_slice(b"hello world");
        let first = Arc::as_ptr(&slot);
        let kept = Blob::new(&slot, 6..11).share();
        // Decoding the next frame must not overwrite the kept bytes.
        let next = FrameBuf::reusable(&mut slot, &pool);
        assert!(next.is_empty());
        next.extend_from_slice(b"other bytes");
        assert_ne!(Arc::as_ptr(&slot), first);
        assert_eq!(&*kept, b"world");
        // Dropping the last kept blob gives the buffer back, and the next fresh slot takes it.
        drop(kept);
        assert_eq!(pooled(&pool), 1);
        let _hold = Blob::new(&slot, 0..5).share();
        let reused = FrameBuf::reusable(&mut slot, &pool);
        assert_eq!(reused.as_slice(), b"hello world");
        assert_eq!(pooled(&pool), 0);
    }

    #[test]
    fn a_blob_nobody_keeps_leaves_the_slot_in_place() {
        let pool = Arc::new(BufPool::default());
        let mut slot = FrameBuf::from_pool(&pool);
        FrameBuf::reusable(&mut slot, &pool).extend_from_slice(b"abc");
        let before = Arc::as_ptr(&slot);
        assert_eq!(&*Blob::new(&slot, 1..3), b"bc");
        FrameBuf::reusable(&mut slot, &pool);
        assert_eq!(Arc::as_ptr(&slot), before);
    }

    #[test]
    fn the_pool_drops_huge_buffers() {
        let pool = Arc::new(BufPool::default());
        let mut slot = FrameBuf::from_pool(&pool);
        FrameBuf::reusable(&mut slot, &pool).resize(POOL_BUFFER_BYTES + 1, 7);
        let kept = Blob::new(&slot, 0..1).share();
        FrameBuf::reusable(&mut slot, &pool).push(1);
        drop(kept);
        assert_eq!(pooled(&pool), 0);
        drop(slot);
        assert_eq!(pooled(&pool), 1, "a small buffer goes back");
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let pool = Arc::new(BufPool::default());
        let kept: Vec<SharedBlob> = (0..POOL_BUFFERS + 5)
            .map(|_| {
                let mut slot = FrameBuf::from_pool(&pool);
                FrameBuf::reusable(&mut slot, &pool).push(1);
                Blob::new(&slot, 0..1).share()
            })
            .collect();
        drop(kept);
        assert_eq!(pooled(&pool), POOL_BUFFERS);
        // between batches only what the next workers take waits; their slots start grown
        pool.trim(2);
        assert_eq!(pooled(&pool), 2);
        let mut slot = FrameBuf::from_pool(&pool);
        assert!(FrameBuf::reusable(&mut slot, &pool).capacity() > 0);
        assert_eq!(pooled(&pool), 1);
        drop(slot);
        assert_eq!(pooled(&pool), 2, "a worker's slot goes back when its thread ends");
    }
}
