//! Reading sealed blobs whatever the way they are stored: whole in a frame, or (shard format
//! 3) as a delta frame that decodes only with its base's contents, the base itself possibly
//! a delta of an earlier blob, down to a blob stored whole (the chain's root).
//!
//! A chain is read from its root up: the root's frame is decoded (and kept in a small cache
//! of decoded frames, since readers that take blobs in storage order ask for the same root
//! frames again and again), then each delta in turn against the one below it.

use crate::{BlobLocator, CoreError, Corpus};
use pycorpus_store::{BlobPlace, DeltaBase, Oid, PackReader, StoreError};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Longest chain of deltas a seal makes: a blob whose base is this deep is stored whole.
pub const MAX_CHAIN: u32 = 50;
/// Bases a read follows at most: past it the index must be damaged (a loop).
const MAX_HOPS: u32 = MAX_CHAIN + 14;
/// Decoded frames kept by a reader (6 MiB each by default).
const CACHED_FRAMES: usize = 8;
/// Packs kept open by a reader.
const OPEN_PACKS: usize = 256;

/// A decoded frame's place: (shard number, frame number).
type FrameKey = (u32, u32);

/// Reads sealed blobs of a corpus, following delta chains; shared by threads.
pub struct SealedReader {
    shards_dir: PathBuf,
    locator: BlobLocator,
    packs: Mutex<BTreeMap<u32, Arc<PackReader>>>,
    /// Decoded frames, most recently used last.
    frames: Mutex<VecDeque<(FrameKey, Arc<Vec<u8>>)>>,
}

impl SealedReader {
    /// A reader of `corpus`'s sealed shards.
    pub fn new(corpus: &Corpus) -> Result<SealedReader, CoreError> {
        Ok(SealedReader { shards_dir: corpus.shards_dir(), locator: corpus.blob_locator()?, packs: Mutex::default(), frames: Mutex::default() })
    }

    /// Where the corpus's blobs are.
    pub fn locator(&self) -> &BlobLocator {
        &self.locator
    }

    /// Shard `n`'s pack, opened once.
    pub fn pack(&self, n: u32) -> Result<Arc<PackReader>, CoreError> {
        let mut packs = self.packs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = packs.get(&n) {
            return Ok(p.clone());
        }
        if packs.len() >= OPEN_PACKS {
            packs.clear();
        }
        let p = Arc::new(PackReader::open(&self.shards_dir.join(crate::corpus::shard_name(n)))?);
        packs.insert(n, p.clone());
        Ok(p)
    }

    /// Frame `frame` of shard `n`'s pack (not a delta frame), decoded whole.
    pub fn frame(&self, n: u32, frame: u32) -> Result<Arc<Vec<u8>>, CoreError> {
        {
            let mut cache = self.frames.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = cache.iter().position(|(k, _)| *k == (n, frame)) {
                let hit = cache.remove(i).expect("present");
                let data = hit.1.clone();
                cache.push_back(hit);
                return Ok(data);
            }
        }
        let data = Arc::new(self.pack(n)?.read_frame(frame as usize)?);
        let mut cache = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED_FRAMES {
            cache.pop_front();
        }
        cache.push_back(((n, frame), data.clone()));
        Ok(data)
    }

    /// The blob `oid` from whichever sealed shard stores it.
    pub fn read(&self, oid: &Oid) -> Result<Option<Vec<u8>>, CoreError> {
        match self.locator.locate(oid) {
            Some(n) => self.read_in(n, oid),
            None => Ok(None),
        }
    }

    /// The blob `oid` from shard `n`'s pack (`None` when that pack does not hold it).
    pub fn read_in(&self, n: u32, oid: &Oid) -> Result<Option<Vec<u8>>, CoreError> {
        self.read_hops(n, oid, 0)
    }

    fn read_hops(&self, n: u32, oid: &Oid, hops: u32) -> Result<Option<Vec<u8>>, CoreError> {
        let pack = self.pack(n)?;
        let Some(e) = pack.find(oid) else { return Ok(None) };
        match pack.delta(e.frame as usize) {
            None => {
                let frame = self.frame(n, e.frame)?;
                let blob = frame.get(e.offset as usize..(e.offset + e.len) as usize);
                Ok(Some(blob.ok_or_else(|| CoreError::Corrupt { shard: n, message: format!("blob {oid} lies beyond the end of frame {}", e.frame) })?.to_vec()))
            }
            Some(d) => {
                let base = self.base(n, oid, &d, hops)?;
                let mut out = Vec::new();
                pack.decode_delta(e.frame as usize, &base, &mut out, &mut Vec::new())?;
                Ok(Some(out))
            }
        }
    }

    /// The contents of the base of delta blob `oid` (stored in shard `n`).
    fn base(&self, n: u32, oid: &Oid, d: &DeltaBase, hops: u32) -> Result<Vec<u8>, CoreError> {
        if hops >= MAX_HOPS {
            return Err(CoreError::Corrupt { shard: n, message: format!("blob {oid}: a chain of more than {MAX_HOPS} deltas (a loop?)") });
        }
        let Some(m) = self.locator.locate(&d.oid).or_else(|| self.pack(n).ok().filter(|p| p.find(&d.oid).is_some()).map(|_| n)) else {
            return Err(CoreError::Corrupt { shard: n, message: format!("blob {oid} is stored as a delta of {}, which no sealed shard stores", d.oid) });
        };
        self.read_hops(m, &d.oid, hops + 1)?.ok_or_else(|| CoreError::Corrupt { shard: m, message: format!("blob {} is indexed here but missing from the pack", d.oid) })
    }

    /// A resolver of bases for [`PackReader::verify_with`] of shard `n`'s pack.
    pub fn base_contents(&self, n: u32, oid: &Oid) -> Result<Vec<u8>, StoreError> {
        let found = self.locator.locate(oid).or_else(|| self.pack(n).ok().filter(|p| p.find(oid).is_some()).map(|_| n));
        let missing = || StoreError::Format { path: self.shards_dir.clone(), what: format!("base {oid} is stored in no sealed shard") };
        let n = found.ok_or_else(missing)?;
        self.read_in(n, oid).map_err(|e| StoreError::Format { path: self.shards_dir.clone(), what: e.to_string() })?.ok_or_else(missing)
    }

    /// What a new delta on top of `base` records (where `base`'s chain starts and how deep
    /// the new delta is), the shard storing `base` and its length. `None` when no sealed shard
    /// stores `base`.
    pub fn delta_on(&self, base: &Oid) -> Result<Option<(DeltaBase, u32, u32)>, CoreError> {
        let Some(n) = self.locator.locate(base) else { return Ok(None) };
        let pack = self.pack(n)?;
        let Some(e) = pack.find(base) else { return Ok(None) };
        let d = match pack.delta(e.frame as usize) {
            Some(d) => DeltaBase { oid: *base, root: d.root, depth: d.depth + 1 },
            None => DeltaBase { oid: *base, root: BlobPlace { shard: n, frame: e.frame, offset: e.offset, len: e.len }, depth: 1 },
        };
        Ok(Some((d, n, e.len)))
    }
}
