//! Duplicate removal over a whole export, in a fixed order (the first record wins): exact on
//! the normalised code tokens, then near duplicates by MinHash with banding (LSH), every
//! candidate pair checked by its true Jaccard similarity of identifier-and-literal sets (as
//! Allamanis' near-duplicate detector: punctuation and keywords, which all functions share,
//! would make every pair look alike and every bucket a crowd).

use sha1::{Digest, Sha1};
use std::collections::{HashMap, HashSet};

/// Signature length and banding: 64 hashes in 16 bands of 4 find pairs at Jaccard 0.8 with
/// probability 1 - (1 - 0.8^4)^16 > 0.9999.
const HASHES: usize = 64;
const BANDS: usize = 16;
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

/// What a record is, for dedup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it.
    Keep,
    /// Same tokens as an earlier record.
    Exact,
    /// Nearly the same as an earlier record.
    Near,
}

/// Candidates checked per band at most (the earliest kept): bounds the work on a family of
/// thousands of similar functions.
const MAX_PER_BAND: usize = 64;

const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Identifiers and literals: what tells two functions apart.
fn distinctive(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"' || c == '\'') && !KEYWORDS.contains(&t)
}

/// Remembers the records kept so far.
pub struct Dedup {
    exact: bool,
    threshold: f64,
    seen: HashSet<[u8; 20]>,
    sets: Vec<Vec<u64>>,
    buckets: HashMap<(usize, u64), Vec<u32>>,
}

impl Dedup {
    /// Exact dedup when `exact`; near dedup at Jaccard `threshold` (off at 1.0 and above).
    pub fn new(exact: bool, threshold: f64) -> Dedup {
        Dedup { exact, threshold, seen: HashSet::new(), sets: Vec::new(), buckets: HashMap::new() }
    }

    /// Decides on the next record (by its code tokens) and remembers it when kept.
    pub fn check(&mut self, tokens: &[&str]) -> Verdict {
        if self.exact {
            let mut h = Sha1::new();
            for t in tokens {
                h.update(t.as_bytes());
                h.update([0u8]);
            }
            if !self.seen.insert(h.finalize().into()) {
                return Verdict::Exact;
            }
        }
        if self.threshold >= 1.0 {
            return Verdict::Keep;
        }
        let mut set: Vec<u64> = tokens.iter().filter(|t| distinctive(t)).map(|t| token_hash(t)).collect();
        set.sort_unstable();
        set.dedup();
        let mut sig = [u64::MAX; HASHES];
        for &h in &set {
            for (i, s) in sig.iter_mut().enumerate() {
                *s = (*s).min(mix(h ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
            }
        }
        let keys: Vec<(usize, u64)> = (0..BANDS).map(|b| (b, sig[b * ROWS..(b + 1) * ROWS].iter().fold(0u64, |acc, &x| mix(acc ^ x)))).collect();
        let mut checked = HashSet::new();
        for k in &keys {
            for &other in self.buckets.get(k).into_iter().flatten().take(MAX_PER_BAND) {
                if checked.insert(other) && jaccard(&set, &self.sets[other as usize]) >= self.threshold {
                    return Verdict::Near;
                }
            }
        }
        let id = self.sets.len() as u32;
        self.sets.push(set);
        for k in keys {
            self.buckets.entry(k).or_default().push(id);
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn exact_near_and_different() {
        let mut d = Dedup::new(true, 0.8);
        let base = "def add ( a , b ) : total = a + b + offset * scale - bias return total";
        assert_eq!(d.check(&toks(base)), Verdict::Keep);
        assert_eq!(d.check(&toks(base)), Verdict::Exact);
        // 7 distinct identifiers; without `bias`: Jaccard 6/7 = 0.86
        assert_eq!(d.check(&toks(&base.replace("- bias", ""))), Verdict::Near);
        assert_eq!(d.check(&toks("def mul ( x , y ) : return x * y")), Verdict::Keep);
        let mut off = Dedup::new(false, 1.0);
        assert_eq!(off.check(&toks(base)), Verdict::Keep);
        assert_eq!(off.check(&toks(base)), Verdict::Keep);
    }

    #[test]
    fn jaccard_of_sets() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[], &[]), 1.0);
    }
}
