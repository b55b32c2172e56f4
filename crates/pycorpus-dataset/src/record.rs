//! One exported record: CodeSearchNet's fields, PyTorrent's additions, and the release
//! metadata that maps it back to its distribution. Tokens are held as spans of the text they
//! come from (a record's tokens would otherwise weigh several times its code); [`Record::view`]
//! gives the fields as written, in file order.

use crate::extract::{Span, span_text};
use serde::Serialize;

/// A <natural language, code> pair, compactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The project (CodeSearchNet's repository).
    pub repo: String,
    /// Path of the file inside the distribution.
    pub path: String,
    /// `name`, `Class.method`, or `outer.inner` for nested functions.
    pub func_name: String,
    /// The function's source from its `def` to the end of its body, as written (docstring kept).
    pub code: String,
    /// Tokens of the code (spans of `code`), leaving out the docstring and comments.
    pub code_tokens: Vec<Span>,
    /// The docstring's token and its place among `code_tokens`.
    pub docstring_token: Option<(usize, Span)>,
    /// The natural language of the scenario: the cleaned docstring, the comments, or both.
    pub docstring: String,
    /// Its tokens (spans of `docstring`).
    pub docstring_tokens: Vec<Span>,
    /// sha256 of the distribution file.
    pub sha: String,
    /// `project/version/path#Lstart-Lend`.
    pub url: String,
    /// `train`, `valid` or `test`.
    pub partition: &'static str,
    /// The first sentence of the natural language.
    pub summary: String,
    /// The release's version.
    pub project_version: String,
    /// Upload time of the distribution (RFC 3339, UTC).
    pub uploaded_on: String,
    /// License from the distribution's metadata, when it names one.
    pub license: Option<String>,
    /// The distribution's file name.
    pub distribution: String,
    /// First line of the function (1-based).
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
}

/// A record's fields as written (JSON key order).
#[derive(Debug, Serialize)]
pub struct RecordView<'a> {
    /// Project.
    pub repo: &'a str,
    /// Path inside the distribution.
    pub path: &'a str,
    /// Function name.
    pub func_name: &'a str,
    /// The source as written.
    pub original_string: &'a str,
    /// `python`.
    pub language: &'static str,
    /// The code (the same text: it keeps the docstring).
    pub code: &'a str,
    /// Code tokens without docstring and comments.
    pub code_tokens: Vec<&'a str>,
    /// Natural language.
    pub docstring: &'a str,
    /// Its tokens.
    pub docstring_tokens: Vec<&'a str>,
    /// sha256 of the distribution.
    pub sha: &'a str,
    /// `project/version/path#Lstart-Lend`.
    pub url: &'a str,
    /// Split.
    pub partition: &'a str,
    /// Code tokens with the docstring (PyTorrent).
    pub code_tokens_ast: Vec<&'a str>,
    /// The code with its docstring (PyTorrent's name; the same text as `code`).
    pub code_with_docstrings: &'a str,
    /// First sentence of the natural language.
    pub summary: &'a str,
    /// Version.
    pub project_version: &'a str,
    /// Upload time.
    pub uploaded_on: &'a str,
    /// License.
    pub license: Option<&'a str>,
    /// Distribution file name.
    pub distribution: &'a str,
    /// First line.
    pub start_line: u32,
    /// Last line.
    pub end_line: u32,
}

impl Record {
    /// The code tokens as text.
    pub fn code_token_texts(&self) -> Vec<&str> {
        self.code_tokens.iter().map(|t| span_text(&self.code, *t)).collect()
    }

    /// The fields as written.
    pub fn view(&self) -> RecordView<'_> {
        let code_tokens = self.code_token_texts();
        let mut code_tokens_ast = code_tokens.clone();
        if let Some((at, t)) = self.docstring_token {
            code_tokens_ast.insert(at.min(code_tokens_ast.len()), span_text(&self.code, t));
        }
        RecordView {
            repo: &self.repo,
            path: &self.path,
            func_name: &self.func_name,
            original_string: &self.code,
            language: "python",
            code: &self.code,
            code_tokens,
            docstring: &self.docstring,
            docstring_tokens: self.docstring_tokens.iter().map(|t| span_text(&self.docstring, *t)).collect(),
            sha: &self.sha,
            url: &self.url,
            partition: self.partition,
            code_tokens_ast,
            code_with_docstrings: &self.code,
            summary: &self.summary,
            project_version: &self.project_version,
            uploaded_on: &self.uploaded_on,
            license: self.license.as_deref(),
            distribution: &self.distribution,
            start_line: self.start_line,
            end_line: self.end_line,
        }
    }
}

/// A compact binary form of a [`Record`], for spilling records to disk during an export.
pub(crate) mod codec {
    use super::Record;
    use crate::extract::Span;
    use crate::split::SPLITS;
    use pycorpus_spill::codec::{Reader, put_str, put_u32};

    fn put_spans(out: &mut Vec<u8>, spans: &[Span]) {
        put_u32(out, spans.len() as u32);
        for &(a, b) in spans {
            put_u32(out, a);
            put_u32(out, b);
        }
    }

    /// Appends `r` to `out`.
    pub fn encode(r: &Record, out: &mut Vec<u8>) {
        for s in [&r.repo, &r.path, &r.func_name, &r.code, &r.docstring, &r.sha, &r.url, &r.summary, &r.project_version, &r.uploaded_on, &r.distribution] {
            put_str(out, s);
        }
        put_spans(out, &r.code_tokens);
        put_spans(out, &r.docstring_tokens);
        match r.docstring_token {
            Some((at, (a, b))) => {
                out.push(1);
                put_u32(out, at as u32);
                put_u32(out, a);
                put_u32(out, b);
            }
            None => out.push(0),
        }
        match &r.license {
            Some(l) => {
                out.push(1);
                put_str(out, l);
            }
            None => out.push(0),
        }
        out.push(SPLITS.iter().position(|s| *s == r.partition).map_or(u8::MAX, |i| i as u8));
        put_u32(out, r.start_line);
        put_u32(out, r.end_line);
    }

    fn spans(r: &mut Reader<'_>) -> Option<Vec<Span>> {
        let n = r.u32()? as usize;
        (0..n).map(|_| Some((r.u32()?, r.u32()?))).collect()
    }

    /// Reads back what [`encode`] wrote; `None` for bytes it did not write.
    pub fn decode(bytes: &[u8]) -> Option<Record> {
        let mut r = Reader(bytes);
        let mut s = || r.string();
        let (repo, path, func_name, code, docstring, sha, url, summary, project_version, uploaded_on, distribution) = (s()?, s()?, s()?, s()?, s()?, s()?, s()?, s()?, s()?, s()?, s()?);
        let code_tokens = spans(&mut r)?;
        let docstring_tokens = spans(&mut r)?;
        let docstring_token = match r.u8()? {
            1 => Some((r.u32()? as usize, (r.u32()?, r.u32()?))),
            _ => None,
        };
        let license = match r.u8()? {
            1 => Some(r.string()?),
            _ => None,
        };
        let partition = SPLITS.get(r.u8()? as usize).copied().unwrap_or("");
        let (start_line, end_line) = (r.u32()?, r.u32()?);
        r.is_empty().then_some(Record {
            repo,
            path,
            func_name,
            code,
            code_tokens,
            docstring_token,
            docstring,
            docstring_tokens,
            sha,
            url,
            partition,
            summary,
            project_version,
            uploaded_on,
            license,
            distribution,
            start_line,
            end_line,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trip() {
            let mut r = Record {
                repo: "p".into(),
                path: "a/b.py".into(),
                func_name: "f".into(),
                code: "def f():\n    \"\"\"Doc é.\"\"\"\n".into(),
                code_tokens: vec![(0, 3), (4, 5)],
                docstring_token: Some((5, (13, 26))),
                docstring: "Doc é.".into(),
                docstring_tokens: vec![(0, 3)],
                sha: "ab".into(),
                url: "u".into(),
                partition: "valid",
                summary: "Doc é.".into(),
                project_version: "1.0".into(),
                uploaded_on: "2024-01-01T00:00:00Z".into(),
                license: Some("MIT".into()),
                distribution: "p-1.0.tar.gz".into(),
                start_line: 3,
                end_line: 9,
            };
            for _ in 0..2 {
                let mut out = Vec::new();
                encode(&r, &mut out);
                assert_eq!(decode(&out).as_ref(), Some(&r));
                assert_eq!(decode(&out[..out.len() - 1]), None, "truncated");
                r.license = None;
                r.docstring_token = None;
                r.partition = "";
            }
        }
    }
}
