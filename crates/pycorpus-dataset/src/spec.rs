//! The options of `export codesearchnet` as front ends give them (text and numbers): the one
//! definition of each option, its default and its check. The command line flattens
//! [`ExportSpec`] into its flags (the `clap` feature); the Python module deserialises its
//! keyword arguments into it; both turn it into [`ExportOptions`] with [`ExportSpec::build`].

use crate::{DatasetError, ExportOptions, Filters, Format, Scenario, Split};
use pycorpus_catalog::Filter;

/// Records per file.
pub const DEFAULT_CHUNK: usize = 30_000;
/// Fewest natural-language tokens (CodeSearchNet's).
pub const DEFAULT_MIN_DOC_TOKENS: usize = 3;
/// Most natural-language tokens (CodeXGLUE's).
pub const DEFAULT_MAX_DOC_TOKENS: usize = 256;
/// Fewest lines of code (CodeSearchNet's).
pub const DEFAULT_MIN_CODE_LINES: usize = 3;
/// Jaccard similarity of code token sets that makes a near duplicate.
pub const DEFAULT_NEAR_DUPLICATES: f64 = 0.8;
/// Files larger than this are not parsed.
pub const DEFAULT_MAX_FILE_BYTES: usize = pycorpus_analyze::DEFAULT_MAX_FILE_BYTES;
/// Scenario names, in [`Scenario::ALL`]'s order.
pub const SCENARIOS: [&str; 3] = ["docstring", "comments", "both"];
/// Format names.
pub const FORMATS: [&str; 2] = ["jsonl.gz", "parquet"];

/// How to export, as given.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct ExportSpec {
    /// The natural language of each record: the docstring, the # comments inside the
    /// function, or both.
    #[cfg_attr(feature = "clap", arg(long, default_value = SCENARIOS[0], value_parser = clap::builder::PossibleValuesParser::new(SCENARIOS)))]
    pub scenario: String,
    /// Train/valid/test shares in percent.
    #[cfg_attr(feature = "clap", arg(long, default_value = "80/10/10", value_name = "T/V/T"))]
    pub split: String,
    /// File format: gzip JSON lines (CodeSearchNet's) or Parquet (zstd).
    #[cfg_attr(feature = "clap", arg(long, default_value = FORMATS[0], value_parser = clap::builder::PossibleValuesParser::new(FORMATS)))]
    pub format: String,
    /// Also functions nested in functions, and methods of nested classes.
    #[cfg_attr(feature = "clap", arg(long))]
    pub nested: bool,
    /// Records per file.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_CHUNK, value_name = "N"))]
    pub chunk: usize,
    /// Fewest natural-language tokens.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_MIN_DOC_TOKENS, value_name = "N", help_heading = "Record filters"))]
    pub min_doc_tokens: usize,
    /// Most natural-language tokens.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_MAX_DOC_TOKENS, value_name = "N", help_heading = "Record filters"))]
    pub max_doc_tokens: usize,
    /// Fewest lines of code.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_MIN_CODE_LINES, value_name = "N", help_heading = "Record filters"))]
    pub min_code_lines: usize,
    /// Keep functions with "test" in their name or path.
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Record filters"))]
    pub keep_tests: bool,
    /// Keep __dunder__ methods.
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Record filters"))]
    pub keep_dunders: bool,
    /// Keep natural language holding URLs or HTML.
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Record filters"))]
    pub keep_urls: bool,
    /// Keep natural language in any language (default: English-looking only).
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Record filters"))]
    pub any_language: bool,
    /// Keep exact duplicates.
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Record filters"))]
    pub keep_duplicates: bool,
    /// Jaccard similarity of code token sets at which a record is a near duplicate (1: off).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_NEAR_DUPLICATES, value_name = "J", help_heading = "Record filters"))]
    pub near_duplicates: f64,
    /// Files larger than this many bytes are not parsed.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES, value_name = "BYTES"))]
    pub max_file_bytes: usize,
    /// Keep secrets, emails and IP addresses (by default they are replaced by `<SECRET>`,
    /// `<EMAIL>`, `<IP_ADDRESS>` in code, docstrings and tokens, and counted in the card).
    #[cfg_attr(feature = "clap", arg(long))]
    pub no_redact: bool,
    /// An opt-out list: projects (one name a line; a trailing * makes a prefix) whose files
    /// are left out; named in the card.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE"))]
    pub exclude_projects_file: Option<std::path::PathBuf>,
}

impl Default for ExportSpec {
    fn default() -> ExportSpec {
        ExportSpec {
            scenario: SCENARIOS[0].into(),
            split: Split::default().to_string(),
            format: FORMATS[0].into(),
            nested: false,
            chunk: DEFAULT_CHUNK,
            min_doc_tokens: DEFAULT_MIN_DOC_TOKENS,
            max_doc_tokens: DEFAULT_MAX_DOC_TOKENS,
            min_code_lines: DEFAULT_MIN_CODE_LINES,
            keep_tests: false,
            keep_dunders: false,
            keep_urls: false,
            any_language: false,
            keep_duplicates: false,
            near_duplicates: DEFAULT_NEAR_DUPLICATES,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            no_redact: false,
            exclude_projects_file: None,
        }
    }
}

impl ExportSpec {
    /// Checks the options and makes them what [`crate::export`] takes, with `filter` selecting
    /// the files. An error names the option through `name` (the caller's spelling of a field:
    /// `--near-duplicates` on the command line, `near_duplicates=` in Python).
    pub fn build(&self, filter: Filter, name: &dyn Fn(&str) -> String) -> Result<ExportOptions, DatasetError> {
        let bad = |field: &str, why: String| DatasetError::Option { option: name(field), message: why };
        let scenario =
            SCENARIOS.iter().position(|s| *s == self.scenario).map(|i| Scenario::ALL[i]).ok_or_else(|| bad("scenario", format!("{:?}: expected one of {}", self.scenario, SCENARIOS.join(", "))))?;
        let format = match self.format.as_str() {
            "jsonl.gz" => Format::JsonlGz,
            "parquet" => Format::Parquet,
            other => return Err(bad("format", format!("{other:?}: expected one of {}", FORMATS.join(", ")))),
        };
        let split = Split::parse(&self.split).map_err(|e| bad("split", e))?;
        if !(0.0..=1.0).contains(&self.near_duplicates) {
            return Err(bad("near_duplicates", format!("expected a Jaccard similarity between 0 and 1, got {}", self.near_duplicates)));
        }
        if self.chunk == 0 {
            return Err(bad("chunk", "expected at least 1 record per file".into()));
        }
        if self.min_doc_tokens > self.max_doc_tokens {
            return Err(bad("min_doc_tokens", format!("{} is more than the most tokens allowed ({})", self.min_doc_tokens, self.max_doc_tokens)));
        }
        let mut filter = filter;
        if let Some(path) = &self.exclude_projects_file {
            filter.exclude_projects.add_file(path).map_err(|e| bad("exclude_projects_file", e.to_string()))?;
        }
        Ok(ExportOptions {
            redact: !self.no_redact,
            opt_out: self.exclude_projects_file.clone(),
            filter,
            scenario,
            split,
            format,
            nested: self.nested,
            filters: Filters {
                min_doc_tokens: self.min_doc_tokens,
                max_doc_tokens: self.max_doc_tokens,
                min_code_lines: self.min_code_lines,
                drop_tests: !self.keep_tests,
                drop_dunders: !self.keep_dunders,
                drop_urls_html: !self.keep_urls,
                english_only: !self.any_language,
                dedup_exact: !self.keep_duplicates,
                near_duplicate_jaccard: self.near_duplicates,
            },
            chunk_records: self.chunk,
            max_file_bytes: self.max_file_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's defaults are the export's: an export with no option given is the default one.
    #[test]
    fn the_defaults_are_the_exports() {
        let built = ExportSpec::default().build(Filter::default(), &|f| f.to_string()).expect("valid");
        let want = ExportOptions::default();
        assert_eq!(serde_json::to_value(&built).unwrap(), serde_json::to_value(&want).unwrap());
        for (i, s) in Scenario::ALL.iter().enumerate() {
            assert_eq!(s.name(), SCENARIOS[i]);
        }
    }

    #[test]
    fn every_check_names_its_option() {
        let name = |f: &str| format!("--{}", f.replace('_', "-"));
        let cases: [(ExportSpec, &str); 5] = [
            (ExportSpec { near_duplicates: 1.5, ..Default::default() }, "--near-duplicates: expected a Jaccard similarity between 0 and 1, got 1.5"),
            (ExportSpec { split: "80/10".into(), ..Default::default() }, "--split: invalid split"),
            (ExportSpec { scenario: "poems".into(), ..Default::default() }, "--scenario: \"poems\": expected one of docstring, comments, both"),
            (ExportSpec { chunk: 0, ..Default::default() }, "--chunk: expected at least 1"),
            (ExportSpec { min_doc_tokens: 300, ..Default::default() }, "--min-doc-tokens: 300 is more than"),
        ];
        for (spec, want) in cases {
            let e = spec.build(Filter::default(), &name).expect_err(want).to_string();
            assert!(e.starts_with(want), "{e}");
        }
    }
}
