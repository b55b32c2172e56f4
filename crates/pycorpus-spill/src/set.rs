//! Sets and counts of fixed-width keys (blob ids, sha256s) in bounded memory.
//!
//! Keys are held in a hash table of fixed capacity (set by a budget); when it is full they are
//! sorted and written as a *table*: a file of fixed-width records in key order, of which every
//! [`FENCE`]th key stays in memory. A lookup reads one block of [`FENCE`] records per table
//! (from the page cache once warm). Tables are merged like a binary counter (a new table that
//! is as large as the one before it is merged with it), so there are at most log2(keys /
//! capacity) of them and each key is rewritten that many times. Memory: the table's capacity
//! plus `key width / FENCE` bytes per key on disk (0.16 bytes for a 20-byte blob id).
//!
//! Keys must be hashes (uniformly distributed bytes): the hash table uses their first eight
//! bytes as they are.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Records per block: one in this many keys of a table is kept in memory, and a lookup reads
/// one block.
pub const FENCE: usize = 128;

/// Bytes a held key costs in the hash table, beside the key (control byte, load factor).
const SLOT_OVERHEAD: usize = 12;

/// Hashes a key that is already a hash: its first eight bytes.
#[derive(Default, Clone, Copy)]
pub struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Keys arrive as one `[u8; N]` write (and a length for slices): mix, do not replace.
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
    }
}

type Build = BuildHasherDefault<Prehashed>;

/// A sorted file of fixed-width records (key, then value), looked up by key.
struct Table {
    file: File,
    path: PathBuf,
    key: usize,
    width: usize,
    len: u64,
    /// Every FENCE-th key, in order.
    fence: Vec<u8>,
}

impl Table {
    /// Writes `records` (sorted by key, `width` bytes each, keys unique) to `path`.
    fn write(path: PathBuf, key: usize, width: usize, records: &mut dyn Iterator<Item = io::Result<Vec<u8>>>) -> io::Result<Table> {
        let mut w = BufWriter::with_capacity(1 << 16, File::create(&path)?);
        let (mut len, mut fence) = (0u64, Vec::new());
        for r in records {
            let r = r?;
            debug_assert_eq!(r.len(), width);
            if len % FENCE as u64 == 0 {
                fence.extend_from_slice(&r[..key]);
            }
            w.write_all(&r)?;
            len += 1;
        }
        w.into_inner().map_err(|e| e.into_error())?;
        let file = File::open(&path)?;
        Ok(Table { file, path, key, width, len, fence })
    }

    /// The value stored for `k`, copied into `value` (its length is the value width).
    fn get(&self, k: &[u8], value: &mut [u8]) -> io::Result<bool> {
        use std::os::unix::fs::FileExt;
        let blocks = self.fence.len() / self.key;
        // the last block whose first key is <= k
        let (mut lo, mut hi) = (0usize, blocks);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if &self.fence[mid * self.key..(mid + 1) * self.key] <= k {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(block) = lo.checked_sub(1) else { return Ok(false) };
        let first = (block * FENCE) as u64;
        let n = (self.len - first).min(FENCE as u64) as usize;
        let mut buf = [0u8; 64 * FENCE];
        let bytes = n * self.width;
        let buf = if bytes <= buf.len() { &mut buf[..bytes] } else { return Err(io::Error::other("record over 64 bytes")) };
        self.file.read_exact_at(buf, first * self.width as u64)?;
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let rec = &buf[mid * self.width..(mid + 1) * self.width];
            match rec[..self.key].cmp(k) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    value.copy_from_slice(&rec[self.key..]);
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Its records in order.
    fn records(&self) -> io::Result<impl Iterator<Item = io::Result<Vec<u8>>> + use<>> {
        let mut r = BufReader::with_capacity(1 << 16, File::open(&self.path)?);
        let (width, mut left) = (self.width, self.len);
        Ok(std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let mut rec = vec![0u8; width];
            Some(r.read_exact(&mut rec).map(|()| rec))
        }))
    }
}

/// Tables of one set or count, in a private folder (removed on drop).
struct Tables {
    tmp: PathBuf,
    dir: Option<tempfile::TempDir>,
    tables: Vec<Table>,
    made: u64,
}

impl Tables {
    fn new(tmp: &Path) -> Tables {
        Tables { tmp: tmp.to_path_buf(), dir: None, tables: Vec::new(), made: 0 }
    }

    fn next_path(&mut self) -> io::Result<PathBuf> {
        if self.dir.is_none() {
            std::fs::create_dir_all(&self.tmp)?;
            self.dir = Some(tempfile::Builder::new().prefix(&format!("sort-{}-", std::process::id())).tempdir_in(&self.tmp)?);
        }
        self.made += 1;
        Ok(self.dir.as_ref().expect("made above").path().join(format!("table-{:06}", self.made)))
    }

    /// Adds a table, then merges while the newest is at least as large as the one before
    /// (`combine` merges the values of a key found in both).
    fn add(&mut self, t: Table, combine: fn(&mut [u8], &[u8])) -> io::Result<()> {
        self.tables.push(t);
        while self.tables.len() >= 2 && self.tables[self.tables.len() - 1].len >= self.tables[self.tables.len() - 2].len {
            let b = self.tables.pop().expect("two tables");
            let a = self.tables.pop().expect("two tables");
            let path = self.next_path()?;
            let merged = Table::write(path, a.key, a.width, &mut merge(a.records()?, b.records()?, a.key, combine))?;
            for old in [a, b] {
                std::fs::remove_file(&old.path)?;
            }
            self.tables.push(merged);
        }
        Ok(())
    }

    fn get(&self, k: &[u8], value: &mut [u8]) -> io::Result<bool> {
        for t in self.tables.iter().rev() {
            if t.get(k, value)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Two sorted record streams as one, records with equal keys combined.
fn merge(a: impl Iterator<Item = io::Result<Vec<u8>>>, b: impl Iterator<Item = io::Result<Vec<u8>>>, key: usize, combine: fn(&mut [u8], &[u8])) -> impl Iterator<Item = io::Result<Vec<u8>>> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || {
        let order = match (a.peek(), b.peek()) {
            (None, None) => return None,
            (Some(Err(_)), _) | (Some(_), None) => std::cmp::Ordering::Less,
            (_, Some(Err(_))) | (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(Ok(x)), Some(Ok(y))) => x[..key].cmp(&y[..key]),
        };
        Some(match order {
            std::cmp::Ordering::Less => a.next().expect("peeked"),
            std::cmp::Ordering::Greater => b.next().expect("peeked"),
            std::cmp::Ordering::Equal => {
                let (x, y) = (a.next().expect("peeked"), b.next().expect("peeked"));
                x.and_then(|mut x| {
                    let y = y?;
                    combine(&mut x[key..], &y[key..]);
                    Ok(x)
                })
            }
        })
    })
}

fn capacity(budget: usize, record: usize) -> usize {
    (budget / (record + SLOT_OVERHEAD)).max(crate::MIN_BUDGET)
}

/// A set of `N`-byte keys in bounded memory (see the module docs).
pub struct KeySet<const N: usize> {
    mem: HashSet<[u8; N], Build>,
    cap: usize,
    disk: Tables,
    len: u64,
}

impl<const N: usize> KeySet<N> {
    /// A set that holds about `budget` bytes of keys in memory before it writes tables to a
    /// private folder under `tmp` (made only then).
    pub fn new(tmp: &Path, budget: usize) -> KeySet<N> {
        let cap = capacity(budget, N);
        // grows as keys come: a set that stays small (most selections) costs nothing
        KeySet { mem: HashSet::with_hasher(Build::default()), cap, disk: Tables::new(tmp), len: 0 }
    }

    /// True when `k` is in the set.
    pub fn contains(&self, k: &[u8; N]) -> io::Result<bool> {
        Ok(self.mem.contains(k) || self.disk.get(k, &mut [])?)
    }

    /// Adds `k`; true when it was not in the set.
    pub fn insert(&mut self, k: [u8; N]) -> io::Result<bool> {
        if self.mem.contains(&k) || self.disk.get(&k, &mut [])? {
            return Ok(false);
        }
        self.mem.insert(k);
        self.len += 1;
        if self.mem.len() >= self.cap {
            let mut keys: Vec<[u8; N]> = self.mem.drain().collect();
            keys.sort_unstable();
            let path = self.disk.next_path()?;
            let t = Table::write(path, N, N, &mut keys.into_iter().map(|k| Ok(k.to_vec())))?;
            self.disk.add(t, |_, _| {})?;
        }
        Ok(true)
    }

    /// Keys in the set.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The folder it spills under (for error messages).
    pub fn spill_dir(&self) -> &Path {
        &self.disk.tmp
    }

    /// Bytes written to disk so far (0 while everything fits the budget).
    pub fn on_disk(&self) -> u64 {
        self.disk.tables.iter().map(|t| t.len * t.width as u64).sum()
    }
}

/// Counts of `N`-byte keys in bounded memory: add keys, then [`KeyCounts::finish`] and look
/// counts up (see the module docs).
pub struct KeyCounts<const N: usize> {
    mem: HashMap<[u8; N], u32, Build>,
    cap: usize,
    disk: Tables,
}

fn add_counts(a: &mut [u8], b: &[u8]) {
    let n = u32::from_le_bytes(a[..4].try_into().expect("4 bytes")).saturating_add(u32::from_le_bytes(b[..4].try_into().expect("4 bytes")));
    a.copy_from_slice(&n.to_le_bytes());
}

impl<const N: usize> KeyCounts<N> {
    /// Counts holding about `budget` bytes in memory before they spill under `tmp`.
    pub fn new(tmp: &Path, budget: usize) -> KeyCounts<N> {
        let cap = capacity(budget, N + 4);
        KeyCounts { mem: HashMap::with_hasher(Build::default()), cap, disk: Tables::new(tmp) }
    }

    /// Counts `k` once more.
    pub fn add(&mut self, k: [u8; N]) -> io::Result<()> {
        let n = self.mem.entry(k).or_insert(0);
        *n = n.saturating_add(1);
        if self.mem.len() >= self.cap {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        let mut recs: Vec<([u8; N], u32)> = self.mem.drain().collect();
        recs.sort_unstable();
        let path = self.disk.next_path()?;
        let t = Table::write(
            path,
            N,
            N + 4,
            &mut recs.into_iter().map(|(k, n)| {
                let mut r = k.to_vec();
                r.extend_from_slice(&n.to_le_bytes());
                Ok(r)
            }),
        )?;
        self.disk.add(t, add_counts)
    }

    /// The counts, for lookups: in memory if they never spilled, else one table on disk.
    pub fn finish(mut self) -> io::Result<Counts<N>> {
        if self.disk.tables.is_empty() {
            return Ok(Counts { mem: self.mem, disk: self.disk });
        }
        if !self.mem.is_empty() {
            self.spill()?;
        }
        // one table: no key is looked up in more than one place
        while self.disk.tables.len() > 1 {
            let b = self.disk.tables.pop().expect("two tables");
            let a = self.disk.tables.pop().expect("two tables");
            let path = self.disk.next_path()?;
            let t = Table::write(path, N, N + 4, &mut merge(a.records()?, b.records()?, N, add_counts))?;
            for old in [a, b] {
                std::fs::remove_file(&old.path)?;
            }
            self.disk.tables.push(t);
        }
        Ok(Counts { mem: HashMap::default(), disk: self.disk })
    }
}

/// Finished [`KeyCounts`].
pub struct Counts<const N: usize> {
    mem: HashMap<[u8; N], u32, Build>,
    disk: Tables,
}

impl<const N: usize> Counts<N> {
    /// How many times `k` was added (`None`: never).
    pub fn get(&self, k: &[u8; N]) -> io::Result<Option<u32>> {
        if let Some(n) = self.mem.get(k) {
            return Ok(Some(*n));
        }
        let mut v = [0u8; 4];
        Ok(self.disk.get(k, &mut v)?.then(|| u32::from_le_bytes(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn key(rng: &mut rand::rngs::StdRng) -> [u8; 20] {
        let mut k = [0u8; 20];
        rng.fill(&mut k);
        k
    }

    #[test]
    fn a_set_over_its_budget_answers_like_a_hash_set() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut set = KeySet::<20>::new(tmp.path(), 2_000); // ~60 keys in memory
        let mut truth = std::collections::HashSet::new();
        let keys: Vec<[u8; 20]> = (0..5_000).map(|_| key(&mut rng)).collect();
        for (i, k) in keys.iter().enumerate() {
            // every key twice, the second time later
            assert_eq!(set.insert(*k).unwrap(), truth.insert(*k));
            if i % 3 == 0 {
                let again = keys[i / 2];
                assert_eq!(set.insert(again).unwrap(), truth.insert(again));
            }
        }
        assert_eq!(set.len(), truth.len() as u64);
        assert!(set.on_disk() > 0, "it spilled");
        assert!(set.disk.tables.len() <= 8, "tables merge like a binary counter: {}", set.disk.tables.len());
        for _ in 0..2_000 {
            let k = key(&mut rng);
            assert!(!set.contains(&k).unwrap());
        }
        for k in &keys {
            assert!(set.contains(k).unwrap());
        }
        let dir = set.disk.dir.as_ref().unwrap().path().to_path_buf();
        drop(set);
        assert!(!dir.exists(), "its folder goes with it");
    }

    #[test]
    fn a_set_within_its_budget_touches_no_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let mut set = KeySet::<20>::new(&tmp.path().join("never"), 1 << 20);
        for i in 0..1_000u32 {
            let mut k = [0u8; 20];
            k[..4].copy_from_slice(&i.to_le_bytes());
            assert!(set.insert(k).unwrap());
            assert!(!set.insert(k).unwrap());
        }
        assert!(!tmp.path().join("never").exists());
    }

    #[test]
    fn counts_over_their_budget_add_up() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let keys: Vec<[u8; 20]> = (0..3_000).map(|_| key(&mut rng)).collect();
        let mut counts = KeyCounts::<20>::new(tmp.path(), 1_000);
        let mut truth: HashMap<[u8; 20], u32> = HashMap::new();
        for i in 0..20_000 {
            let k = keys[(i * 7919 + i / 3) % keys.len()];
            counts.add(k).unwrap();
            *truth.entry(k).or_default() += 1;
        }
        let counts = counts.finish().unwrap();
        assert_eq!(counts.disk.tables.len(), 1);
        for (k, n) in &truth {
            assert_eq!(counts.get(k).unwrap(), Some(*n));
        }
        assert_eq!(counts.get(&key(&mut rng)).unwrap(), None);
        // within budget: in memory
        let mut small = KeyCounts::<20>::new(tmp.path(), 1 << 20);
        small.add(keys[0]).unwrap();
        small.add(keys[0]).unwrap();
        assert_eq!(small.finish().unwrap().get(&keys[0]).unwrap(), Some(2));
    }
}
