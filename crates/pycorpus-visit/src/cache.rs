//! Decoded frames kept from one visit to the next, within a byte budget: for a process that
//! searches the same corpus again and again (the web server), where decoding is most of a
//! search. A one-off command has no use for it.
//!
//! Frames are keyed by their pack file's identity (device and inode) and number, so a shard
//! swapped in place is another pack. When full, a random frame makes room: a search that
//! reads every frame, in order, again and again, keeps finding the share of them the budget
//! holds (an LRU would hold none of what it needs next).

use crate::blob::FrameBuf;
use pycorpus_store::PackReader;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    file: (u64, u64),
    frame: u32,
}

#[derive(Default)]
struct Inner {
    frames: HashMap<Key, Arc<FrameBuf>>,
    keys: Vec<Key>,
    bytes: usize,
    /// xorshift state for picking what to evict.
    rng: u64,
}

/// Decoded frames shared by the visits that are given it ([`crate::VisitOptions::frame_cache`]).
pub struct FrameCache {
    budget: usize,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for FrameCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.stats();
        f.debug_struct("FrameCache").field("budget", &self.budget).field("bytes", &s.bytes).field("frames", &s.frames).finish()
    }
}

/// What a cache holds and how it served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Frames held.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames found in it.
    pub hits: u64,
    /// Frames decoded for want of them.
    pub misses: u64,
}

impl FrameCache {
    /// A cache of at most `budget` bytes of decoded frames.
    pub fn new(budget: usize) -> FrameCache {
        FrameCache { budget, inner: Mutex::new(Inner { rng: 0x9e37_79b9_7f4a_7c15, ..Inner::default() }), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// Its figures.
    pub fn stats(&self) -> CacheStats {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        CacheStats { frames: g.keys.len() as u64, bytes: g.bytes as u64, hits: self.hits.load(Ordering::Relaxed), misses: self.misses.load(Ordering::Relaxed) }
    }

    /// Frame `frame` of `pack`, when held with at least `len` bytes decoded.
    pub(crate) fn get(&self, pack: &PackReader, frame: usize, len: usize) -> Option<Arc<FrameBuf>> {
        let key = Key { file: pack.file_id(), frame: frame as u32 };
        let found = self.inner.lock().unwrap_or_else(|e| e.into_inner()).frames.get(&key).filter(|b| b.bytes().len() >= len).cloned();
        match &found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// Keeps `buf`, the whole of frame `frame` of `pack` (random frames make room; one larger
    /// than the whole budget is not kept).
    pub(crate) fn put(&self, pack: &PackReader, frame: usize, buf: Arc<FrameBuf>) {
        let size = buf.bytes().len();
        if size > self.budget {
            return;
        }
        let key = Key { file: pack.file_id(), frame: frame as u32 };
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // frames are kept whole, so one held already is the same (two searches decoded it at once)
        if g.frames.contains_key(&key) {
            return;
        }
        while g.bytes + size > self.budget && !g.keys.is_empty() {
            g.rng ^= g.rng << 13;
            g.rng ^= g.rng >> 7;
            g.rng ^= g.rng << 17;
            let i = (g.rng % g.keys.len() as u64) as usize;
            let k = g.keys.swap_remove(i);
            if let Some(old) = g.frames.remove(&k) {
                g.bytes -= old.bytes().len();
            }
        }
        g.bytes += size;
        g.keys.push(key);
        g.frames.insert(key, buf);
    }
}
