//! Blob ids: the git blob SHA-1, so every row joins with git and with py-code.org's datasets.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha1::{Digest, Sha1};
use std::fmt;
use std::str::FromStr;

/// A git blob id: `sha1("blob <len>\0" + contents)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Oid(pub [u8; 20]);

impl Oid {
    /// Orders the 20 id bytes stored at the start of `stored` against this id (`Less`: the
    /// stored id is the smaller) as comparing the ids would, without copying them out: by the
    /// first 8 bytes as one number (ids are uniformly random, so they nearly always decide),
    /// then the rest. Index lookups compare a handful of entries per blob, for every (shard,
    /// blob) pair a reader visits.
    #[inline]
    pub fn cmp_stored(&self, stored: &[u8]) -> std::cmp::Ordering {
        let head = |b: &[u8]| u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        head(stored).cmp(&head(&self.0)).then_with(|| stored[8..20].cmp(&self.0[8..]))
    }

    /// Twenty zero bytes (git's null id): the id of a row whose contents were never read
    /// (an entry indexed as `too-large` from its header alone); no blob has it.
    pub const NULL: Oid = Oid([0; 20]);

    /// The id of `data` as a git blob.
    pub fn for_blob(data: &[u8]) -> Oid {
        let mut h = OidHasher::new(data.len() as u64);
        h.update(data);
        h.finish()
    }

    /// Lower-case hex, 40 characters.
    pub fn to_hex(&self) -> String {
        self.hex().as_str().to_owned()
    }

    /// Lower-case hex, without allocating: for hot loops that turn ids into text.
    pub fn hex(&self) -> HexOid {
        let mut out = [0u8; 40];
        hex::encode_to_slice(self.0, &mut out).expect("40 digits for 20 bytes");
        HexOid(out)
    }

    /// The raw 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Builds an id from 20 raw bytes; `None` for any other length.
    pub fn from_slice(b: &[u8]) -> Option<Oid> {
        Some(Oid(b.try_into().ok()?))
    }
}

/// Hashes an [`Oid`] by its first eight bytes: they are already uniformly spread (SHA-1), so
/// the default SipHash over all twenty only costs time in maps of millions of blobs.
#[derive(Default, Clone, Copy)]
pub struct OidBits(u64);

impl std::hash::Hasher for OidBits {
    fn write(&mut self, bytes: &[u8]) {
        // An Oid hashes as its 20 bytes in one call; anything else still hashes, less well.
        for (i, b) in bytes.iter().take(8).enumerate() {
            self.0 ^= u64::from(*b) << (8 * i);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by blob id, hashed with [`OidBits`].
pub type OidMap<V> = std::collections::HashMap<Oid, V, std::hash::BuildHasherDefault<OidBits>>;

/// A set of blob ids, hashed with [`OidBits`].
pub type OidSet = std::collections::HashSet<Oid, std::hash::BuildHasherDefault<OidBits>>;

/// Parse error for [`Oid`] text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a blob id (40 hex digits): {0:?}")]
pub struct BadOid(pub String);

impl FromStr for Oid {
    type Err = BadOid;
    fn from_str(s: &str) -> Result<Oid, BadOid> {
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out).map_err(|_| BadOid(s.to_string()))?;
        Ok(Oid(out))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hex().as_str())
    }
}

/// An id's 40 hex digits ([`Oid::hex`]).
#[derive(Clone, Copy)]
pub struct HexOid([u8; 40]);

impl HexOid {
    /// The digits as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({})", self.to_hex())
    }
}

impl Serialize for Oid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Oid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Oid, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Streaming blob-id computation for contents too large to hold in memory. The size must be
/// known in advance (it is part of the git header); [`OidHasher::finish`] checks it.
pub struct OidHasher {
    sha: Sha1,
    declared: u64,
    seen: u64,
}

impl OidHasher {
    /// Starts a blob of `size` bytes.
    pub fn new(size: u64) -> OidHasher {
        let mut sha = Sha1::new();
        sha.update(format!("blob {size}\0").as_bytes());
        OidHasher { sha, declared: size, seen: 0 }
    }

    /// Feeds contents.
    pub fn update(&mut self, data: &[u8]) {
        self.seen += data.len() as u64;
        self.sha.update(data);
    }

    /// Bytes fed so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The id, valid only when exactly the declared size was fed (see [`OidHasher::size_ok`]).
    pub fn finish(self) -> Oid {
        debug_assert_eq!(self.seen, self.declared, "blob size differs from its header");
        Oid(self.sha.finalize().into())
    }

    /// True when the bytes fed match the declared size.
    pub fn size_ok(&self) -> bool {
        self.seen == self.declared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_ids_order_as_ids_do() {
        // ids that differ in the first byte, in the 8th, in the 9th, in the last, or not at all
        let base = Oid::for_blob(b"x");
        let mut cases = vec![base];
        for at in [0, 7, 8, 19] {
            for delta in [1u8, 255] {
                let mut o = base;
                o.0[at] = o.0[at].wrapping_add(delta);
                cases.push(o);
            }
        }
        for a in &cases {
            for b in &cases {
                let mut stored = a.0.to_vec();
                stored.extend_from_slice(&[9; 12]); // what follows the id in an index entry
                assert_eq!(b.cmp_stored(&stored), a.cmp(b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn oid_maps_spread_ids() {
        use std::hash::BuildHasher;
        let ids: Vec<Oid> = (0..1000u32).map(|i| Oid::for_blob(&i.to_le_bytes())).collect();
        let build = std::hash::BuildHasherDefault::<OidBits>::default();
        let buckets: std::collections::HashSet<u64> = ids.iter().map(|o| build.hash_one(o) & 0xfff).collect();
        assert!(buckets.len() > 800, "low bits spread: {}", buckets.len());
        let map: OidMap<usize> = ids.iter().enumerate().map(|(i, o)| (*o, i)).collect();
        assert!(ids.iter().enumerate().all(|(i, o)| map[o] == i));
    }

    #[test]
    fn matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(Oid::for_blob(b"hello\n").to_hex(), "ce013625030ba8dba906f756967f9e9ca394464a");
        // the empty blob
        assert_eq!(Oid::for_blob(b"").to_hex(), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn parses_and_serialises() {
        let o = Oid::for_blob(b"x");
        assert_eq!(o.to_hex().parse::<Oid>(), Ok(o));
        assert!("zz".parse::<Oid>().is_err());
        let j = serde_json::to_string(&o).expect("json");
        assert_eq!(serde_json::from_str::<Oid>(&j).expect("back"), o);
    }
}
