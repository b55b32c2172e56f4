//! Natural-language side of a record: docstrings cleaned as `inspect.cleandoc` does, tokens as
//! CodeSearchNet's tokenizer cuts them, and the tests its filters apply.

use regex::Regex;
use std::sync::LazyLock;

/// CodeSearchNet's docstring tokenizer (`DOCSTRING_REGEX_TOKENIZER` of its function parser):
/// runs of anything but blanks and punctuation, or runs of one punctuation mark.
static DOC_TOKEN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"[^\s,'"`.():\[\]=*;>{}+\-/\\]+|\\+|\.+|\(\)|\{\}|\[\]|\(+|\)+|:+|\[+|\]+|\{+|\}+|=+|\*+|;+|>+|\++|-+|/+"#).expect("valid regex"));

static URL_OR_HTML: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)https?://|www\.|</?[a-z][a-z0-9]*(\s[^<>]*)?/?>").expect("valid regex"));

/// A docstring as `inspect.cleandoc` (Python 3.11) leaves it: tabs expanded, the first line's
/// leading blanks and the common indentation of the others removed, blank lines at both ends
/// dropped.
pub fn clean_docstring(doc: &str) -> String {
    let expanded: Vec<String> = doc.split('\n').map(|l| expand_tabs(l.strip_suffix('\r').unwrap_or(l))).collect();
    let margin = expanded.iter().skip(1).filter(|l| !l.trim_start().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let mut lines: Vec<&str> = Vec::with_capacity(expanded.len());
    for (i, l) in expanded.iter().enumerate() {
        lines.push(if i == 0 { l.trim_start() } else { l.get(margin..).unwrap_or("") });
    }
    while lines.first().is_some_and(|l| l.trim().is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn expand_tabs(line: &str) -> String {
    if !line.contains('\t') {
        return line.to_string();
    }
    let mut out = String::new();
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - out.chars().count() % 8;
            out.extend(std::iter::repeat_n(' ', n));
        } else {
            out.push(c);
        }
    }
    out
}

/// Tokens of `text` by CodeSearchNet's rule.
pub fn doc_tokens(text: &str) -> Vec<String> {
    DOC_TOKEN.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

/// The same as byte spans, shifted by `offset` (where `text` starts in the record's text).
pub fn doc_token_spans(text: &str, offset: usize) -> Vec<crate::extract::Span> {
    DOC_TOKEN.find_iter(text).map(|m| ((m.start() + offset) as u32, (m.end() + offset) as u32)).collect()
}

/// The first paragraph (up to the first blank line).
pub fn first_paragraph(doc: &str) -> &str {
    let mut end = doc.len();
    let mut offset = 0;
    for line in doc.split_inclusive('\n') {
        if line.trim().is_empty() && offset > 0 {
            end = offset;
            break;
        }
        offset += line.len();
    }
    doc[..end].trim_end()
}

/// One-sentence summary: the first paragraph's first sentence, blanks collapsed.
pub fn summary(doc: &str) -> String {
    let para = first_paragraph(doc).split_whitespace().collect::<Vec<_>>().join(" ");
    match para.find(". ") {
        Some(i) => para[..=i].to_string(),
        None => para,
    }
}

/// A URL or an HTML tag in the text (CodeXGLUE drops those docstrings).
pub fn has_url_or_html(text: &str) -> bool {
    URL_OR_HTML.is_match(text)
}

/// English, by a documented heuristic: at least 90 % of the letters are ASCII, and there are
/// letters at all. (CodeXGLUE used a language detector; this keeps the export dependency-free
/// and deterministic, and drops docstrings in Chinese, Russian, Japanese, ...)
pub fn looks_english(text: &str) -> bool {
    let (mut letters, mut ascii) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        ascii += usize::from(c.is_ascii());
    }
    letters > 0 && ascii * 10 >= letters * 9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleandoc_like_python() {
        assert_eq!(clean_docstring("Add things.\n\n    More text.\n      Indented.\n    "), "Add things.\n\nMore text.\n  Indented.");
        assert_eq!(clean_docstring("\n    Starts below.\n    Second.\n"), "Starts below.\nSecond.");
        assert_eq!(clean_docstring("\tTab\n\tx"), "Tab\nx");
        assert_eq!(clean_docstring(""), "");
    }

    #[test]
    fn tokens_paragraphs_summaries() {
        // as in CodeSearchNet, commas and quotes separate tokens but are not tokens
        assert_eq!(doc_tokens("Return the sum (of a, b)."), ["Return", "the", "sum", "(", "of", "a", "b", ")", "."]);
        assert_eq!(doc_tokens("x.y()"), ["x", ".", "y", "()"]);
        assert_eq!(first_paragraph("One line\nsecond.\n\nOther para."), "One line\nsecond.");
        assert_eq!(summary("Add  things. Then more.\n\nx"), "Add things.");
        assert_eq!(summary("No period"), "No period");
    }

    #[test]
    fn filters() {
        assert!(has_url_or_html("see https://x.test") && has_url_or_html("a <b>bold</b>") && has_url_or_html("<br/>"));
        assert!(!has_url_or_html("a < b and c > d") && !has_url_or_html("List[int] -> dict"));
        assert!(looks_english("Return the value.") && !looks_english("返回值的总和") && !looks_english("Возвращает сумму") && !looks_english("..."));
        assert!(looks_english("Café au lait is served here"), "a few accents are fine");
    }
}
