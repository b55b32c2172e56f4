//! Release metadata found inside distributions (parsed by pycorpus-deps), and the reader of
//! RFC 822-style header blocks that core metadata and `WHEEL` share.

use serde::{Deserialize, Serialize};

/// The fields we keep from a distribution's own metadata. All optional: old uploads often
/// lack them, and a distribution without metadata is still ingested.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `Name` (as written, not normalised).
    pub name: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Summary`.
    pub summary: Option<String>,
    /// `License-Expression`, else `License` (first line).
    pub license: Option<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// Every `Classifier`.
    pub classifiers: Vec<String>,
    /// `Project-URL` (`label, url`) entries, and `Home-page` as `Homepage`; first label wins.
    #[serde(default)]
    pub project_urls: Vec<(String, String)>,
}

/// Hands `f` each header of an RFC 822-style block (core metadata, a wheel's `WHEEL`): up to
/// the first empty line, continuation lines (starting with a space or tab, blank ones too: a
/// folded `License` or `Description` keeps its paragraphs) folded into the header before them
/// (joined by newlines), names in lower case, values trimmed. Returns how many lines had no
/// colon (left out).
pub fn for_each_header(text: &str, f: &mut dyn FnMut(String, String)) -> usize {
    let (mut last, mut no_colon): (Option<(String, String)>, usize) = (None, 0);
    let mut emit = |(k, v): (String, String)| f(k, v.trim_end().to_string());
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = last.as_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some(h) = last.take() {
            emit(h);
        }
        match line.split_once(':') {
            Some((k, v)) => last = Some((k.trim().to_ascii_lowercase(), v.trim().to_string())),
            // a line of spaces at the top level, or none at all: the block ends
            None if line.trim().is_empty() => break,
            None => no_colon += 1,
        }
    }
    if let Some(h) = last {
        emit(h);
    }
    no_colon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_fold_continuations_and_stop_at_the_body() {
        let mut got = Vec::new();
        let no_colon = for_each_header("Name: x\nLicense: MIT\n  more\n        \n  para\nno colon\nSummary:  s \n\nName: body\n", &mut |k, v| got.push((k, v)));
        assert_eq!(got, vec![("name".to_string(), "x".to_string()), ("license".into(), "MIT\nmore\n\npara".into()), ("summary".into(), "s".into())]);
        assert_eq!(no_colon, 1);
    }
}
