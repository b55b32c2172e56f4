//! Train/valid/test by a hash of the project name: every version of a project lands in the
//! same split, and the same name always lands in the same one.

use sha2::{Digest, Sha256};

/// Split shares in percent (train, valid, test), summing to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Split(pub [u32; 3]);

/// The split names, in order.
pub const SPLITS: [&str; 3] = ["train", "valid", "test"];

impl Split {
    /// Parses `80/10/10`.
    pub fn parse(s: &str) -> Result<Split, String> {
        let parts: Vec<u32> = s.split('/').map(|p| p.trim().parse::<u32>()).collect::<Result<_, _>>().map_err(|_| format!("invalid split {s:?}: expected three whole percentages like 80/10/10"))?;
        match parts[..] {
            [a, b, c] if a + b + c == 100 => Ok(Split([a, b, c])),
            _ => Err(format!("invalid split {s:?}: expected three percentages summing to 100, like 80/10/10")),
        }
    }

    /// The split of `project`: the first 8 bytes of sha256(name), in 1/10,000ths.
    pub fn of(&self, project: &str) -> &'static str {
        let d = Sha256::digest(project.as_bytes());
        let x = u64::from_be_bytes(d[..8].try_into().expect("8 bytes")) % 10_000;
        let [a, b, _] = self.0;
        if x < u64::from(a) * 100 {
            SPLITS[0]
        } else if x < u64::from(a + b) * 100 {
            SPLITS[1]
        } else {
            SPLITS[2]
        }
    }
}

impl Default for Split {
    fn default() -> Split {
        Split([80, 10, 10])
    }
}

/// As [`Split::parse`] reads it: `80/10/10`.
impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.0[0], self.0[1], self.0[2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_assign() {
        assert_eq!(Split::parse("80/10/10"), Ok(Split([80, 10, 10])));
        assert!(Split::parse("80/10").is_err() && Split::parse("80/10/20").is_err() && Split::parse("a/b/c").is_err());
        let s = Split::default();
        let mut n = [0usize; 3];
        for i in 0..10_000 {
            let p = s.of(&format!("project-{i}"));
            n[SPLITS.iter().position(|x| *x == p).expect("a split")] += 1;
            assert_eq!(s.of(&format!("project-{i}")), p, "stable");
        }
        assert!((7_700..8_300).contains(&n[0]) && (800..1_200).contains(&n[1]) && (800..1_200).contains(&n[2]), "{n:?}");
        assert_eq!(Split([100, 0, 0]).of("x"), "train");
    }
}
