//! From one blob's functions to records: the scenario's natural language, the filters (judged
//! before a function is tokenized, so that the many functions without text cost little).

use crate::extract::{Function, Span};
use crate::filters::{Drop, Filters, Scenario, check};
use crate::record::Record;
use crate::text::{clean_docstring, doc_token_spans, first_paragraph, summary};
use pycorpus_catalog::FileRow;

/// The natural language of `f` for `scenario`, and its tokens (spans of that text).
pub fn natural_language(f: &Function, scenario: Scenario) -> (String, Vec<Span>) {
    let doc = f.docstring.as_deref().map(clean_docstring).unwrap_or_default();
    let comments = f.comments.iter().filter(|c| !c.is_empty()).cloned().collect::<Vec<_>>().join("\n");
    match scenario {
        Scenario::Docstring => {
            let tokens = doc_token_spans(first_paragraph(&doc), 0);
            (doc, tokens)
        }
        Scenario::Comments => {
            let tokens = doc_token_spans(&comments, 0);
            (comments, tokens)
        }
        Scenario::Both => match (doc.is_empty(), comments.is_empty()) {
            (false, false) => {
                let mut tokens = doc_token_spans(first_paragraph(&doc), 0);
                tokens.extend(doc_token_spans(&comments, doc.len() + 1));
                (format!("{doc}\n{comments}"), tokens)
            }
            (true, _) => {
                let tokens = doc_token_spans(&comments, 0);
                (comments, tokens)
            }
            (false, true) => {
                let tokens = doc_token_spans(first_paragraph(&doc), 0);
                (doc, tokens)
            }
        },
    }
}

/// Decides on `f` (found at `path`) before it is tokenized: its natural language, or why it
/// is dropped.
pub fn judge(f: &Function, path: &str, scenario: Scenario, filters: &Filters) -> Result<(String, Vec<Span>), Drop> {
    let (text, tokens) = natural_language(f, scenario);
    let lines = (f.end_line - f.start_line + 1) as usize;
    match check(filters, &f.name, path, lines, &text, tokens.len()) {
        Some(drop) => Err(drop),
        None => Ok((text, tokens)),
    }
}

/// The record of the kept function `f` with its natural language, found in the file `row`
/// (partition left empty).
pub fn record(f: Function, (text, tokens): (String, Vec<Span>), row: &FileRow, license: Option<&String>) -> Record {
    let path = row.inner_path().to_string();
    Record {
        url: format!("{}/{}/{}#L{}-L{}", row.project_name, row.project_version, path, f.start_line, f.end_line),
        repo: row.project_name.clone(),
        path,
        func_name: f.name,
        code: f.code,
        code_tokens: f.code_tokens,
        docstring_token: f.docstring_token,
        summary: summary(&text),
        docstring: text,
        docstring_tokens: tokens,
        sha: row.dist_sha256.clone(),
        partition: "",
        project_version: row.project_version.clone(),
        uploaded_on: pycorpus_catalog::format_time(row.uploaded_on),
        license: license.cloned(),
        distribution: row.project_release.clone(),
        start_line: f.start_line,
        end_line: f.end_line,
    }
}
