//! The filters of CodeSearchNet's paper and CodeXGLUE, each with a switch and a counter.

use serde::Serialize;

/// Which natural language a record pairs with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// The docstring.
    Docstring,
    /// The `#` comments inside the function.
    Comments,
    /// The docstring, then the comments.
    Both,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 3] = [Scenario::Docstring, Scenario::Comments, Scenario::Both];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Docstring => "docstring",
            Scenario::Comments => "comments",
            Scenario::Both => "both",
        }
    }
}

/// Filter settings (defaults: CodeSearchNet and CodeXGLUE's).
#[derive(Debug, Clone, Serialize)]
pub struct Filters {
    /// Fewest tokens in the natural language (its first paragraph for docstrings).
    pub min_doc_tokens: usize,
    /// Most tokens in the natural language.
    pub max_doc_tokens: usize,
    /// Fewest lines of code.
    pub min_code_lines: usize,
    /// Drop functions with "test" in their name or path.
    pub drop_tests: bool,
    /// Drop `__dunder__` methods.
    pub drop_dunders: bool,
    /// Drop records whose natural language holds a URL or an HTML tag.
    pub drop_urls_html: bool,
    /// Keep only natural language that looks English ([`crate::text::looks_english`]).
    pub english_only: bool,
    /// Drop exact duplicates (same code tokens).
    pub dedup_exact: bool,
    /// Drop near duplicates: code token sets with a Jaccard similarity at or above this
    /// (1.0 or more: off).
    pub near_duplicate_jaccard: f64,
}

impl Default for Filters {
    fn default() -> Filters {
        Filters {
            min_doc_tokens: crate::DEFAULT_MIN_DOC_TOKENS,
            max_doc_tokens: crate::DEFAULT_MAX_DOC_TOKENS,
            min_code_lines: crate::DEFAULT_MIN_CODE_LINES,
            drop_tests: true,
            drop_dunders: true,
            drop_urls_html: true,
            english_only: true,
            dedup_exact: true,
            near_duplicate_jaccard: crate::DEFAULT_NEAR_DUPLICATES,
        }
    }
}

/// Why a function is not in the export (the first reason that applies, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drop {
    /// No natural language for the scenario (no docstring, no comments).
    NoText,
    /// "test" in the function's name or path.
    Test,
    /// A `__dunder__` method.
    Dunder,
    /// Fewer code lines than asked.
    ShortCode,
    /// Natural language with a URL or HTML.
    UrlOrHtml,
    /// Natural language that does not look English.
    NotEnglish,
    /// Too few natural-language tokens.
    ShortText,
    /// Too many natural-language tokens.
    LongText,
    /// The same code tokens as an earlier record.
    ExactDuplicate,
    /// Nearly the same code tokens as an earlier record.
    NearDuplicate,
}

impl Drop {
    /// Every reason, in order.
    pub const ALL: [Drop; 10] =
        [Drop::NoText, Drop::Test, Drop::Dunder, Drop::ShortCode, Drop::UrlOrHtml, Drop::NotEnglish, Drop::ShortText, Drop::LongText, Drop::ExactDuplicate, Drop::NearDuplicate];

    /// The name in the dataset card.
    pub fn name(self) -> &'static str {
        match self {
            Drop::NoText => "no-text",
            Drop::Test => "test",
            Drop::Dunder => "dunder",
            Drop::ShortCode => "short-code",
            Drop::UrlOrHtml => "url-or-html",
            Drop::NotEnglish => "not-english",
            Drop::ShortText => "short-text",
            Drop::LongText => "long-text",
            Drop::ExactDuplicate => "exact-duplicate",
            Drop::NearDuplicate => "near-duplicate",
        }
    }
}

/// The per-record filters (not the duplicate ones): the reason to drop, if any.
pub fn check(f: &Filters, name: &str, path: &str, code_lines: usize, text: &str, text_tokens: usize) -> Option<Drop> {
    let short = name.rsplit('.').next().unwrap_or(name);
    if text.trim().is_empty() {
        Some(Drop::NoText)
    } else if f.drop_tests && (name.to_ascii_lowercase().contains("test") || path.to_ascii_lowercase().contains("test")) {
        Some(Drop::Test)
    } else if f.drop_dunders && short.len() > 4 && short.starts_with("__") && short.ends_with("__") {
        Some(Drop::Dunder)
    } else if code_lines < f.min_code_lines {
        Some(Drop::ShortCode)
    } else if f.drop_urls_html && crate::text::has_url_or_html(text) {
        Some(Drop::UrlOrHtml)
    } else if f.english_only && !crate::text::looks_english(text) {
        Some(Drop::NotEnglish)
    } else if text_tokens < f.min_doc_tokens {
        Some(Drop::ShortText)
    } else if text_tokens > f.max_doc_tokens {
        Some(Drop::LongText)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_filter_has_its_reason() {
        let f = Filters::default();
        let ok = "Return the sum of two numbers.";
        assert_eq!(check(&f, "add", "pkg/m.py", 3, ok, 6), None);
        assert_eq!(check(&f, "add", "pkg/m.py", 3, "  ", 0), Some(Drop::NoText));
        assert_eq!(check(&f, "test_add", "pkg/m.py", 3, ok, 6), Some(Drop::Test));
        assert_eq!(check(&f, "add", "pkg/tests/m.py", 3, ok, 6), Some(Drop::Test));
        assert_eq!(check(&f, "C.__init__", "pkg/m.py", 3, ok, 6), Some(Drop::Dunder));
        assert_eq!(check(&f, "C.__", "pkg/m.py", 3, ok, 6), None, "not a dunder");
        assert_eq!(check(&f, "add", "pkg/m.py", 2, ok, 6), Some(Drop::ShortCode));
        assert_eq!(check(&f, "add", "pkg/m.py", 3, "See https://x.test for it", 6), Some(Drop::UrlOrHtml));
        assert_eq!(check(&f, "add", "pkg/m.py", 3, "返回两个数的和", 6), Some(Drop::NotEnglish));
        assert_eq!(check(&f, "add", "pkg/m.py", 3, "Add.", 2), Some(Drop::ShortText));
        assert_eq!(check(&f, "add", "pkg/m.py", 3, ok, 257), Some(Drop::LongText));
        let off = Filters { drop_tests: false, drop_dunders: false, ..Filters::default() };
        assert_eq!(check(&off, "test_add", "pkg/tests/m.py", 3, ok, 6), None);
        assert_eq!(check(&off, "C.__init__", "pkg/m.py", 3, ok, 6), None);
    }
}
