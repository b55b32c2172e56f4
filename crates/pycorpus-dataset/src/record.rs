//! One exported record: CodeSearchNet's fields, PyTorrent's additions, and the release
//! metadata that maps it back to its distribution. Tokens are held as spans of the text they
//! come from (a record's tokens would otherwise weigh several times its code); [`Record::view`]
//! gives the fields as written, in file order.

use crate::extract::{span_text, Span};
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
