//! Leaked credentials in file contents.
//!
//! A [`RuleSet`] (the built-in rules, or gitleaks' TOML format) scans one blob at a time:
//! the rules' keywords are looked for in one Aho-Corasick pass (without case), the rules whose
//! keywords are there are tried in one multi-pattern pass ([`regex::bytes::RegexSet`]), and
//! only the rules that match are run for their positions. A secret is a finding unless it is
//! a placeholder (`xxxx`, `<your-key>`, `EXAMPLE`, ...), allowlisted, or below its rule's
//! entropy. Rust's regexes run in linear time, so no rule file can make a scan hang; a rule
//! whose compiled form is too large is refused, naming it.
#![deny(missing_docs)]

mod rules;
pub mod samples;

pub use rules::{Allowlist, Rule, entropy, parse_gitleaks};

use aho_corasick::AhoCorasick;
use regex::bytes::{RegexSet, RegexSetBuilder};
use sha2::Digest;

/// Errors of a rule file.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// Not a gitleaks TOML file.
    #[error("not a gitleaks rule file: {0}")]
    Format(String),
    /// A rule's regex does not compile, or is too large.
    #[error("rule {rule}: {message}")]
    Regex {
        /// The rule's id.
        rule: String,
        /// Why.
        message: String,
    },
}

/// One secret found in a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Index of its rule in the set.
    pub rule: usize,
    /// 1-based line of the secret's first byte.
    pub line: u64,
    /// Byte range of the secret in the blob.
    pub start: usize,
    /// See `start`.
    pub end: usize,
}

/// Rules ready to scan.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    global: Allowlist,
    set: RegexSet,
    /// Every keyword of every rule, and the rules each keyword belongs to.
    keywords: AhoCorasick,
    keyword_rules: Vec<Vec<usize>>,
    /// Rules without keywords: always tried.
    always: Vec<usize>,
}

impl RuleSet {
    /// The built-in rules.
    pub fn builtin() -> RuleSet {
        RuleSet::new(Rule::builtins(), Allowlist::default()).unwrap_or_else(|e| panic!("built-in rules: {e}"))
    }

    /// The rules of a gitleaks TOML file.
    pub fn from_gitleaks(text: &str) -> Result<RuleSet, RuleError> {
        let (rules, global) = parse_gitleaks(text)?;
        RuleSet::new(rules, global)
    }

    fn new(rules: Vec<Rule>, global: Allowlist) -> Result<RuleSet, RuleError> {
        let patterns = rules.iter().map(|r| r.regex.as_str());
        let set = RegexSetBuilder::new(patterns)
            .size_limit(rules::REGEX_SIZE * 4)
            .dfa_size_limit(rules::REGEX_SIZE * 4)
            .build()
            .map_err(|e| RuleError::Regex { rule: "(all rules together)".into(), message: e.to_string() })?;
        let mut words: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.keywords.is_empty() {
                always.push(i);
            }
            for k in &r.keywords {
                match words.iter().position(|w| w == k) {
                    Some(j) => keyword_rules[j].push(i),
                    None => {
                        words.push(k.clone());
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let keywords = AhoCorasick::builder().ascii_case_insensitive(true).build(&words).map_err(|e| RuleError::Format(e.to_string()))?;
        Ok(RuleSet { rules, global, set, keywords, keyword_rules, always })
    }

    /// The rules, in order (a finding's `rule` indexes them).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every finding in `data`, in order of position.
    pub fn scan(&self, data: &[u8]) -> Vec<Finding> {
        let mut wanted = vec![false; self.rules.len()];
        for &i in &self.always {
            wanted[i] = true;
        }
        let mut open = self.always.len();
        for m in self.keywords.find_overlapping_iter(data) {
            for &i in &self.keyword_rules[m.pattern().as_usize()] {
                if !wanted[i] {
                    wanted[i] = true;
                    open += 1;
                }
            }
            if open == self.rules.len() {
                break;
            }
        }
        if open == 0 {
            return Vec::new();
        }
        let mut found = Vec::new();
        for i in self.set.matches(data).into_iter().filter(|&i| wanted[i]) {
            let rule = &self.rules[i];
            for caps in rule.regex.captures_iter(data) {
                let Some(m) = caps.get(rule.secret_group) else { continue };
                if !rule.allows(m.as_bytes(), &self.global) {
                    found.push(Finding { rule: i, line: 0, start: m.start(), end: m.end() });
                }
            }
        }
        found.sort_by_key(|f| (f.start, f.rule));
        // a generic rule's finding inside a specific rule's (`token = 'ghp_...'`) says nothing more
        let specific: Vec<(usize, usize)> = found.iter().filter(|f| !self.rules[f.rule].generic).map(|f| (f.start, f.end)).collect();
        found.retain(|f| !self.rules[f.rule].generic || !specific.iter().any(|&(s, e)| f.start < e && s < f.end));
        // lines, counted once through the blob
        let (mut line, mut at) = (1u64, 0usize);
        for f in &mut found {
            line += memchr::memchr_iter(b'\n', &data[at..f.start]).count() as u64;
            at = f.start;
            f.line = line;
        }
        found
    }
}

/// The sha256 (hex) of a secret: the same secret has the same fingerprint wherever it is.
pub fn fingerprint(secret: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(secret))
}

/// A secret as shown without `--show-secrets`: its first 4 characters, then one `*` per
/// character (at most 16).
pub fn mask(secret: &str) -> String {
    let keep: String = secret.chars().take(4).collect();
    let rest = secret.chars().count().saturating_sub(4).min(16);
    format!("{keep}{}", "*".repeat(rest))
}

#[cfg(test)]
mod tests;
