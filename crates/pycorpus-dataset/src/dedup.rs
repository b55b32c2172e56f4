//! The parts of duplicate removal (run by the export over sorted spills, in bounded memory):
//! exact on the normalised code tokens ([`exact_key`]), then near duplicates by MinHash with
//! banding (LSH, [`band_keys`]), every candidate pair checked by its true Jaccard similarity
//! of identifier-and-literal sets ([`near_set`], as Allamanis' near-duplicate detector:
//! punctuation and keywords, which all functions share, would make every pair look alike and
//! every bucket a crowd).

use sha1::{Digest, Sha1};

/// Signature length and banding: 64 hashes in 16 bands of 4 find pairs at Jaccard 0.8 with
/// probability 1 - (1 - 0.8^4)^16 > 0.9999.
const HASHES: usize = 64;
/// Bands of the LSH index.
pub const BANDS: usize = 16;
const ROWS: usize = HASHES / BANDS;

fn token_hash(t: &str) -> u64 {
    let d = Sha1::digest(t.as_bytes());
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

/// A 64-bit mix (splitmix64's finaliser): the `i`-th hash function is `mix(h ^ seed_i)`.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Jaccard similarity of two sorted, deduplicated sets.
fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    if union == 0 { 1.0 } else { both as f64 / union as f64 }
}

/// Candidates checked per band at most (the earliest): bounds the work on a family of
/// thousands of similar functions.
pub const MAX_PER_BAND: usize = 64;

const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
    "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Identifiers and literals: what tells two functions apart.
fn distinctive(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"' || c == '\'') && !KEYWORDS.contains(&t)
}

/// The exact-duplicate key of a record: sha1 of its code tokens, each followed by a NUL.
pub fn exact_key(tokens: &[&str]) -> [u8; 20] {
    let mut h = Sha1::new();
    for t in tokens {
        h.update(t.as_bytes());
        h.update([0u8]);
    }
    h.finalize().into()
}

/// The set a near-duplicate check compares: hashes of the distinctive tokens, sorted, unique.
pub fn near_set(tokens: &[&str]) -> Vec<u64> {
    let mut set: Vec<u64> = tokens.iter().filter(|t| distinctive(t)).map(|t| token_hash(t)).collect();
    set.sort_unstable();
    set.dedup();
    set
}

/// The LSH bucket of `set` in each of the [`BANDS`] bands (MinHash signature, banded).
pub fn band_keys(set: &[u64]) -> [u64; BANDS] {
    let mut sig = [u64::MAX; HASHES];
    for &h in set {
        for (i, s) in sig.iter_mut().enumerate() {
            *s = (*s).min(mix(h ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
    }
    std::array::from_fn(|b| sig[b * ROWS..(b + 1) * ROWS].iter().fold(0u64, |acc, &x| mix(acc ^ x)))
}

/// True when two near sets are at least `threshold` alike (Jaccard).
pub fn is_near(a: &[u64], b: &[u64], threshold: f64) -> bool {
    jaccard(a, b) >= threshold
}

/// Encodes a near set for spilling (little-endian u64s).
pub fn encode_set(set: &[u64], out: &mut Vec<u8>) {
    for h in set {
        out.extend_from_slice(&h.to_le_bytes());
    }
}

/// Reads back [`encode_set`]'s bytes.
pub fn decode_set(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn exact_near_and_different() {
        let base = "def add ( a , b ) : total = a + b + offset * scale - bias return total";
        assert_eq!(exact_key(&toks(base)), exact_key(&toks(base)));
        assert_ne!(exact_key(&toks(base)), exact_key(&toks(&base.replace("bias", "bias2"))));
        // 7 distinct identifiers; without `bias`: Jaccard 6/7 = 0.86, and LSH finds the pair
        let (a, b) = (near_set(&toks(base)), near_set(&toks(&base.replace("- bias", ""))));
        assert_eq!(a.len(), 7);
        assert!(is_near(&a, &b, 0.8) && !is_near(&a, &b, 0.9));
        assert!(band_keys(&a).iter().zip(band_keys(&b)).any(|(x, y)| *x == y), "shares a bucket");
        let c = near_set(&toks("def mul ( x , y ) : return x * y"));
        assert!(!is_near(&a, &c, 0.8));
        assert_eq!(
            decode_set(&{
                let mut v = Vec::new();
                encode_set(&a, &mut v);
                v
            }),
            a
        );
    }

    #[test]
    fn jaccard_of_sets() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[], &[]), 1.0);
    }
}
