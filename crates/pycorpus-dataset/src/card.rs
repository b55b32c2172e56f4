//! The dataset card (README.md): what is in the export, how it was filtered, where it came
//! from; with the front matter that lets `datasets.load_dataset(DEST)` find the splits.

use crate::filters::Drop;
use crate::run::{ExportOptions, ExportSummary};
use crate::split::SPLITS;
use std::fmt::Write;

/// The card's text.
pub fn card(opts: &ExportOptions, s: &ExportSummary, distributions: u64, lock_sha256: &str) -> String {
    let dir = opts.format.dir();
    let suffix = opts.format.suffix();
    let mut out = String::from("---\nconfigs:\n- config_name: default\n  data_files:\n");
    for split in SPLITS {
        let hf = if split == "valid" { "validation" } else { split };
        let _ = writeln!(out, "  - split: {hf}\n    path: python/final/{dir}/{split}/*.{suffix}");
    }
    out.push_str("language:\n- en\n- code\ntask_categories:\n- text-retrieval\n- text-generation\n---\n\n");
    let total: u64 = s.records.values().sum();
    let _ = writeln!(
        out,
        "# Python functions and their {}: a CodeSearchNet-format dataset\n",
        match opts.scenario {
            crate::Scenario::Docstring => "docstrings",
            crate::Scenario::Comments => "comments",
            crate::Scenario::Both => "docstrings and comments",
        }
    );
    let _ = writeln!(
        out,
        "Made by `pycorpus export codesearchnet` from a pycorpus corpus of {} distribution file(s) (`corpus.lock.tsv`, sha256 `{}`): {} unique Python file(s) read, {} function(s) found, **{} record(s)**.\n",
        distributions, lock_sha256, s.blobs, s.functions, total
    );
    out.push_str("## Splits\n\nBy a hash of the project name (sha256, first 8 bytes): every version of a project is in one split.\n\n| split | share | records |\n|---|---|---|\n");
    for (i, split) in SPLITS.iter().enumerate() {
        let _ = writeln!(out, "| {split} | {} % | {} |", opts.split.0[i], s.records.get(*split).copied().unwrap_or(0));
    }
    let _ = writeln!(out, "\nFiles: `python/final/{dir}/<split>/python_<split>_<n>.{suffix}`, {} records each at most.\n", opts.chunk_records);
    let _ = writeln!(
        out,
        "## Scenario\n\n`{}`: {}\n",
        opts.scenario.name(),
        match opts.scenario {
            crate::Scenario::Docstring => "`docstring` is the function's docstring, cleaned as `inspect.cleandoc` does; `docstring_tokens` are the tokens of its first paragraph.",
            crate::Scenario::Comments => "`docstring` holds the `#` comments inside the function, one per line; `docstring_tokens` are their tokens.",
            crate::Scenario::Both =>
                "`docstring` is the cleaned docstring followed by the `#` comments inside the function; `docstring_tokens` are the tokens of the docstring's first paragraph and of the comments.",
        }
    );
    out.push_str("Functions that pass the filters under each scenario (before duplicate removal):\n\n| scenario | functions |\n|---|---|\n");
    for sc in crate::Scenario::ALL {
        let mark = if sc == opts.scenario { " (this export)" } else { "" };
        let _ = writeln!(out, "| {}{mark} | {} |", sc.name(), s.per_scenario.get(sc.name()).copied().unwrap_or(0));
    }
    out.push('\n');
    let f = &opts.filters;
    out.push_str("## Filters\n\nApplied in this order; a function is counted under the first that drops it.\n\n| filter | setting | dropped |\n|---|---|---|\n");
    let unless_off = |on: bool, what: &str| -> String { if on { what.into() } else { "off".into() } };
    let setting = |d: Drop| -> String {
        match d {
            Drop::NoText => "no natural language for the scenario".into(),
            Drop::Test => unless_off(f.drop_tests, "\"test\" in the name or path"),
            Drop::Dunder => unless_off(f.drop_dunders, "`__dunder__` methods"),
            Drop::ShortCode => format!("fewer than {} lines of code", f.min_code_lines),
            Drop::UrlOrHtml => unless_off(f.drop_urls_html, "a URL or an HTML tag in the text"),
            Drop::NotEnglish => unless_off(f.english_only, "fewer than 90 % of the letters ASCII"),
            Drop::ShortText => format!("fewer than {} tokens", f.min_doc_tokens),
            Drop::LongText => format!("more than {} tokens", f.max_doc_tokens),
            Drop::ExactDuplicate => unless_off(f.dedup_exact, "the same code tokens as an earlier record"),
            Drop::NearDuplicate => {
                if f.near_duplicate_jaccard < 1.0 {
                    format!("code token sets with Jaccard ≥ {} to an earlier record (MinHash, 16 bands of 4)", f.near_duplicate_jaccard)
                } else {
                    "off".into()
                }
            }
        }
    };
    for d in Drop::ALL {
        let _ = writeln!(out, "| {} | {} | {} |", d.name(), setting(d), s.dropped.get(d.name()).copied().unwrap_or(0));
    }
    out.push_str("\nFiles not parsed:");
    if s.files_skipped.is_empty() {
        out.push_str(" none.\n");
    } else {
        out.push('\n');
        for (k, v) in &s.files_skipped {
            let _ = writeln!(out, "- {k}: {v}");
        }
    }
    out.push_str("\n## Personal and secret data\n\n");
    if opts.redact {
        let r = &s.redacted;
        let _ = writeln!(
            out,
            "Replaced in every file read, before its functions were taken (so in `code`, `docstring` and the tokens alike): secrets found by the built-in rules of `pycorpus secrets` by `<SECRET>`, email addresses by `<EMAIL>`, public IPv4 addresses (not loopback, private, link-local) by `<IP_ADDRESS>`.\n\n| kind | replaced |\n|---|---|\n| secrets | {} |\n| emails | {} |\n| ip_addresses | {} |",
            r.secrets, r.emails, r.ip_addresses
        );
    } else {
        out.push_str("Not redacted (`--no-redact`): the code is as published, secrets, emails and addresses included.\n");
    }
    match &opts.opt_out {
        Some(path) => {
            let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
            let _ = writeln!(out, "\nOpt-out: the projects listed in `{name}` (`--exclude-projects-file`) were left out.");
        }
        None => out.push_str("\nOpt-out: no list was given (`--exclude-projects-file`).\n"),
    }
    out.push_str("\n## Fields\n\n`repo` (project), `path` (inside the distribution), `func_name` (`name`, `Class.method`), `original_string` and `code` (the source from `def` to the end of the body, docstring kept), `code_tokens` (without docstring and comments), `language`, `docstring`, `docstring_tokens`, `sha` (sha256 of the distribution), `url` (`project/version/path#Lstart-Lend`), `partition`; PyTorrent's `code_tokens_ast` (tokens with the docstring), `code_with_docstrings`, `summary` (first sentence); and `project_version`, `uploaded_on`, `license`, `distribution` (file name), `start_line`, `end_line`, which map every record to its row in the corpus's `releases.parquet`.\n\n## Loading\n\n```python\nimport datasets\nds = datasets.load_dataset(\"json\", data_files={\"train\": \"python/final/jsonl/train/*.jsonl.gz\"})\n```\n");
    out
}
