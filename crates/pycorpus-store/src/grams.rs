//! `grams.idx`: which frames of a pack contain each trigram.
//!
//! A pack is decoded a frame at a time, so a search can skip only whole frames: the index
//! answers "which frames can hold this literal?" by intersecting the frame sets of its
//! trigrams. Trigrams are taken over ASCII-lowercased bytes (so case-insensitive searches use
//! it too) and never contain a newline (a line-oriented search cannot ask for one); trigrams
//! that span two blobs of a frame are kept, which can only let more frames through. Measured
//! on corpus-v1: 709,867 distinct trigrams over 208 frames; a rare identifier such as
//! `frobnicate` is in 26 frames.
//!
//! A frame holding a blob that starts with a UTF-16 byte-order mark is marked "always": a
//! search transcodes such a blob (as ripgrep does), so its raw bytes say nothing about the
//! text searched.
//!
//! Layout (the whole file after the 8-byte magic is one zstd frame):
//! ```text
//! magic "PYCGRAM\x01"
//! zstd( frames:u32 count:u32 always:bitmap
//!       trigram delta:u32 x count (sorted; each minus the previous)   nframes:u16 x count
//!       postings (in trigram order; each one's length follows from its nframes) )
//! ```
//! A trigram in every frame has no posting; one in `n` frames has `n` u16 frame numbers when
//! that is shorter than a bitmap of all frames, else the bitmap (bit `f` of byte `f / 8`).

use crate::StoreError;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Magic of `grams.idx`.
pub const GRAMS_MAGIC: &[u8; 8] = b"PYCGRAM\x01";

/// Folds ASCII upper case to lower case; other bytes unchanged.
#[inline]
pub fn fold(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

/// The trigram of three bytes (already folded).
#[inline]
pub fn trigram(a: u8, b: u8, c: u8) -> u32 {
    (a as u32) << 16 | (b as u32) << 8 | c as u32
}

/// The distinct trigrams of `data` (folded, without newlines), sorted.
pub fn trigrams_of(data: &[u8]) -> Vec<u32> {
    let (mut seen, mut out) = (Vec::new(), Vec::new());
    crate::postings::unit_trigrams(data, true, &mut seen, &mut out);
    out.sort_unstable();
    out
}

/// True when a blob is read as UTF-16 by a search (it starts with a UTF-16 byte-order mark).
pub fn is_utf16(blob: &[u8]) -> bool {
    blob.starts_with(&[0xff, 0xfe]) || blob.starts_with(&[0xfe, 0xff])
}

/// Writes `grams.idx` from each frame's sorted trigram list; frames marked in `always` are
/// read by every search.
pub fn write_grams(path: &Path, frames: &[Vec<u32>], always: &[bool]) -> Result<u64, StoreError> {
    let io = |e| StoreError::io(path, e);
    let n = frames.len();
    if n > u16::MAX as usize {
        return Err(StoreError::Format { path: path.to_path_buf(), what: format!("{n} frames: too many for a trigram index") });
    }
    let mut pairs: Vec<u64> = frames.iter().enumerate().flat_map(|(f, ts)| ts.iter().map(move |&t| (t as u64) << 16 | f as u64)).collect();
    pairs.sort_unstable();
    let bitmap_len = n.div_ceil(8);
    let (mut keys, mut counts, mut postings) = (Vec::new(), Vec::new(), Vec::new());
    let mut i = 0;
    while i < pairs.len() {
        let t = (pairs[i] >> 16) as u32;
        let mut j = i;
        while j < pairs.len() && (pairs[j] >> 16) as u32 == t {
            j += 1;
        }
        let c = j - i;
        keys.push(t);
        counts.push(c as u16);
        if c < n {
            if c * 2 < bitmap_len {
                for p in &pairs[i..j] {
                    postings.extend_from_slice(&((p & 0xffff) as u16).to_le_bytes());
                }
            } else {
                let start = postings.len();
                postings.resize(start + bitmap_len, 0);
                for p in &pairs[i..j] {
                    let f = (p & 0xffff) as usize;
                    postings[start + f / 8] |= 1 << (f % 8);
                }
            }
        }
        i = j;
    }
    let mut body = Vec::with_capacity(8 + keys.len() * 6 + postings.len());
    body.extend_from_slice(&(n as u32).to_le_bytes());
    body.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    let mut marks = vec![0u8; bitmap_len];
    for (f, _) in always.iter().enumerate().filter(|(_, a)| **a) {
        marks[f / 8] |= 1 << (f % 8);
    }
    body.extend_from_slice(&marks);
    let mut prev = 0;
    for k in &keys {
        body.extend_from_slice(&(k - prev).to_le_bytes());
        prev = *k;
    }
    counts.iter().for_each(|c| body.extend_from_slice(&c.to_le_bytes()));
    body.extend_from_slice(&postings);
    let packed = zstd::bulk::compress(&body, 9).map_err(io)?;
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(GRAMS_MAGIC).map_err(io)?;
    f.write_all(&packed).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok((GRAMS_MAGIC.len() + packed.len()) as u64)
}

/// A set of frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameSet {
    bits: Vec<u64>,
    frames: usize,
}

impl FrameSet {
    /// Every frame.
    pub fn all(frames: usize) -> FrameSet {
        let mut s = FrameSet { bits: vec![u64::MAX; frames.div_ceil(64)], frames };
        s.trim();
        s
    }

    /// No frame.
    pub fn none(frames: usize) -> FrameSet {
        FrameSet { bits: vec![0; frames.div_ceil(64)], frames }
    }

    fn trim(&mut self) {
        if !self.frames.is_multiple_of(64)
            && let Some(last) = self.bits.last_mut()
        {
            *last &= (1u64 << (self.frames % 64)) - 1;
        }
    }

    /// True when frame `f` is in the set.
    pub fn contains(&self, f: usize) -> bool {
        f < self.frames && self.bits[f / 64] & (1 << (f % 64)) != 0
    }

    /// Adds frame `f` (ignored past the end).
    pub fn insert(&mut self, f: usize) {
        if f < self.frames {
            self.bits[f / 64] |= 1 << (f % 64);
        }
    }

    /// Number of frames in the set.
    pub fn len(&self) -> usize {
        self.bits.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// True when no frame is in the set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the frames also in `o`.
    pub fn and(&mut self, o: &FrameSet) {
        self.bits.iter_mut().zip(&o.bits).for_each(|(a, b)| *a &= b);
    }

    /// Adds the frames of `o`.
    pub fn or(&mut self, o: &FrameSet) {
        self.bits.iter_mut().zip(&o.bits).for_each(|(a, b)| *a |= b);
    }

    /// The frames in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &bits)| {
            let mut b = bits;
            std::iter::from_fn(move || {
                (b != 0).then(|| {
                    let i = b.trailing_zeros() as usize;
                    b &= b - 1;
                    w * 64 + i
                })
            })
        })
    }
}

/// A loaded `grams.idx`.
pub struct GramIndex {
    path: PathBuf,
    body: Vec<u8>,
    frames: usize,
    keys: Vec<u32>,
    counts: Vec<u16>,
    /// Where each trigram's posting starts in `body`.
    offsets: Vec<usize>,
    always: FrameSet,
}

/// Bytes of the posting of a trigram in `n` of `frames` frames.
fn posting_len(n: usize, frames: usize) -> usize {
    let bitmap_len = frames.div_ceil(8);
    if n >= frames {
        0
    } else if n * 2 < bitmap_len {
        n * 2
    } else {
        bitmap_len
    }
}

impl GramIndex {
    /// Loads the index in `dir`; `Ok(None)` when the shard has none (sealed before it existed).
    pub fn open(dir: &Path) -> Result<Option<GramIndex>, StoreError> {
        let path = dir.join("grams.idx");
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let bad = |what: &str| StoreError::Format { path: path.clone(), what: what.to_string() };
        if data.len() < 8 || &data[..8] != GRAMS_MAGIC {
            return Err(bad("not a pycorpus trigram index (bad magic)"));
        }
        // bounded: a hostile file cannot make us allocate more than 1 GiB
        let mut body = Vec::new();
        let dec = zstd::stream::Decoder::new(&data[8..]).map_err(|e| bad(&format!("cannot decompress: {e}")))?;
        std::io::Read::read_to_end(&mut std::io::Read::take(dec, 1 << 30), &mut body).map_err(|e| bad(&format!("cannot decompress: {e}")))?;
        if body.len() < 8 {
            return Err(bad("truncated"));
        }
        let frames = u32::from_le_bytes(body[0..4].try_into().expect("4")) as usize;
        let count = u32::from_le_bytes(body[4..8].try_into().expect("4")) as usize;
        let table = 8 + frames.div_ceil(8);
        if body.len() < table + count * 6 {
            return Err(bad("shorter than its table"));
        }
        let mut always = FrameSet::none(frames);
        for f in 0..frames {
            if body[8 + f / 8] & (1 << (f % 8)) != 0 {
                always.bits[f / 64] |= 1 << (f % 64);
            }
        }
        let (mut keys, mut counts, mut offsets) = (Vec::with_capacity(count), Vec::with_capacity(count), Vec::with_capacity(count));
        let (mut key, mut at) = (0u32, table + count * 6);
        for i in 0..count {
            key = key.wrapping_add(u32::from_le_bytes(body[table + i * 4..][..4].try_into().expect("4")));
            let n = u16::from_le_bytes(body[table + count * 4 + i * 2..][..2].try_into().expect("2"));
            keys.push(key);
            counts.push(n);
            offsets.push(at);
            at += posting_len(n as usize, frames);
        }
        if at > body.len() || keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err(bad("postings do not match the table"));
        }
        Ok(Some(GramIndex { path, body, frames, keys, counts, offsets, always }))
    }

    /// Number of frames the index describes.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The frames that contain trigram `t` (of folded bytes), and those marked "always".
    pub fn frames_with(&self, t: u32) -> Result<FrameSet, StoreError> {
        let mut set = self.postings(t)?;
        set.or(&self.always);
        Ok(set)
    }

    fn postings(&self, t: u32) -> Result<FrameSet, StoreError> {
        let Ok(i) = self.keys.binary_search(&t) else { return Ok(FrameSet::none(self.frames)) };
        let n = self.counts[i] as usize;
        if n >= self.frames {
            return Ok(FrameSet::all(self.frames));
        }
        let start = self.offsets[i];
        let bitmap_len = self.frames.div_ceil(8);
        let bad = || StoreError::Format { path: self.path.clone(), what: format!("posting of trigram {t:06x} out of bounds") };
        let mut set = FrameSet::none(self.frames);
        if n * 2 < bitmap_len {
            let p = self.body.get(start..start + n * 2).ok_or_else(bad)?;
            for c in p.chunks_exact(2) {
                let f = u16::from_le_bytes([c[0], c[1]]) as usize;
                if f < self.frames {
                    set.bits[f / 64] |= 1 << (f % 64);
                }
            }
        } else {
            let p = self.body.get(start..start + bitmap_len).ok_or_else(bad)?;
            for (f, byte) in (0..self.frames).map(|f| (f, p[f / 8])) {
                if byte & (1 << (f % 8)) != 0 {
                    set.bits[f / 64] |= 1 << (f % 64);
                }
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_lookups() {
        let dir = tempfile::tempdir().expect("tmp");
        let frames: Vec<&[u8]> = vec![b"def Frobnicate(x):\n    return x\n", b"import os\nimport sys\n", b"return os.path\n"];
        let lists: Vec<Vec<u32>> = frames.iter().map(|f| trigrams_of(f)).collect();
        // many frames, so both posting encodings are exercised
        let mut all = lists.clone();
        for i in 0..100 {
            all.push(trigrams_of(format!("filler {i} ret").as_bytes()));
        }
        let path = dir.path().join("grams.idx");
        let mut always = vec![false; all.len()];
        always[50] = true; // a frame with a UTF-16 blob
        write_grams(&path, &all, &always).expect("write");
        let idx = GramIndex::open(dir.path()).expect("open").expect("present");
        assert_eq!(idx.frames(), 103);
        let t = |s: &[u8]| trigram(fold(s[0]), fold(s[1]), fold(s[2]));
        let f = idx.frames_with(t(b"FRO")).expect("lookup");
        assert_eq!((f.len(), f.contains(0), f.contains(50)), (2, true, true), "folded: FRO finds Frobnicate (and the always frame)");
        let ret = idx.frames_with(t(b"ret")).expect("lookup");
        assert!(ret.len() == 102 && ret.contains(0) && ret.contains(2) && !ret.contains(1), "{}", ret.len());
        let none = idx.frames_with(t(b"zzz")).expect("lookup");
        assert_eq!((none.len(), none.contains(50)), (1, true), "only the 'always' frame");
        assert_eq!(idx.frames_with(t(b"):\n")).expect("lookup").len(), 1, "no trigram holds a newline");
        let mut both = idx.frames_with(t(b"imp")).expect("lookup");
        both.and(&idx.frames_with(t(b"os.")).expect("lookup"));
        assert_eq!(both.len(), 1);
        assert!(is_utf16(b"\xff\xfea\0") && !is_utf16(b"\xef\xbb\xbfa"));
        assert!(GramIndex::open(&dir.path().join("nowhere")).expect("absent").is_none());
        std::fs::write(&path, b"PYCGRAM\x01garbage").expect("write");
        assert!(GramIndex::open(dir.path()).is_err());
    }
}
