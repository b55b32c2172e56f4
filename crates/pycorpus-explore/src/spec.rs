//! The options of `grep` and `extract` as front ends give them: the one definition of each
//! option, its default and its check. The command line flattens these structs into its flags
//! (the `clap` feature); the Python module (and any later front end that receives text)
//! deserialises its keyword arguments into them.

use crate::{ExploreError, GrepOptions, Layout, OutputMode};

/// How `grep` matches: ripgrep's flags of the same names. The pattern and the shape of the
/// output (lines, `-l`, `-c`, JSON, every path) are the front end's.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct GrepSpec {
    /// Case-insensitive.
    #[cfg_attr(feature = "clap", arg(short = 'i', long))]
    pub ignore_case: bool,
    /// The pattern is a literal string, not a regex.
    #[cfg_attr(feature = "clap", arg(short = 'F', long))]
    pub fixed_strings: bool,
    /// Only matches that are whole words.
    #[cfg_attr(feature = "clap", arg(short = 'w', long))]
    pub word_regexp: bool,
    /// Select the lines that do not match.
    #[cfg_attr(feature = "clap", arg(short = 'v', long))]
    pub invert_match: bool,
    /// At most N selected lines per file.
    #[cfg_attr(feature = "clap", arg(short = 'm', long, value_name = "N"))]
    pub max_count: Option<u64>,
    /// Lines of context after each match.
    #[cfg_attr(feature = "clap", arg(short = 'A', long, value_name = "N"))]
    pub after_context: Option<usize>,
    /// Lines of context before each match.
    #[cfg_attr(feature = "clap", arg(short = 'B', long, value_name = "N"))]
    pub before_context: Option<usize>,
    /// Lines of context before and after each match.
    #[cfg_attr(feature = "clap", arg(short = 'C', long, value_name = "N"))]
    pub context: Option<usize>,
}

impl GrepSpec {
    /// The search of `pattern` with these options, reported as `mode` says, checked (a
    /// pattern that does not compile is an error here, before any work).
    pub fn build(&self, pattern: String, mode: OutputMode, all_paths: bool, json: bool) -> Result<GrepOptions, ExploreError> {
        self.build_limited(pattern, mode, all_paths, json, None)
    }

    /// [`GrepSpec::build`] with the compiled pattern held to `regex_size_limit` bytes (a
    /// server's: a pattern over it is refused like one that does not compile).
    pub fn build_limited(&self, pattern: String, mode: OutputMode, all_paths: bool, json: bool, regex_size_limit: Option<usize>) -> Result<GrepOptions, ExploreError> {
        let opts = GrepOptions {
            pattern,
            case_insensitive: self.ignore_case,
            fixed_strings: self.fixed_strings,
            word: self.word_regexp,
            invert: self.invert_match,
            before: self.before_context.or(self.context).unwrap_or(0),
            after: self.after_context.or(self.context).unwrap_or(0),
            max_count: self.max_count,
            mode,
            all_paths,
            json,
            regex_size_limit,
            frame_cache: None,
        };
        opts.matcher()?;
        Ok(opts)
    }
}

/// How `extract` writes.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct ExtractSpec {
    /// `oid`: DEST/ab/cd/<oid>.<file name>, one copy per blob; `tree`:
    /// DEST/<project>/<release>/<path in archive>, every file.
    #[cfg_attr(feature = "clap", arg(long, value_enum, default_value_t = Layout::Oid))]
    pub layout: Layout,
}

/// The fields of a grep record, in order: the file's (`FILE_FIELDS`) and then the line's.
/// The CLI's `--json`, the module's dicts and its Arrow table all use these names.
pub const MATCH_FIELDS: [&str; 9] = ["oid", "project", "version", "release", "path", "path_in_archive", "line_number", "type", "text"];

/// The first six of [`MATCH_FIELDS`]: what a file holding a match contributes to each record.
pub const FILE_FIELDS: [&str; 6] = ["oid", "project", "version", "release", "path", "path_in_archive"];

/// The values of [`FILE_FIELDS`] for `row`, which holds the blob `oid` (hex).
pub fn file_fields<'a>(oid: &'a str, row: &'a pycorpus_catalog::FileRow) -> [&'a str; 6] {
    [oid, &row.project_name, &row.project_version, &row.project_release, &row.path, row.inner_path()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fields_begin_the_record() {
        assert_eq!(MATCH_FIELDS[..6], FILE_FIELDS);
    }

    #[test]
    fn a_bad_pattern_is_refused_at_build() {
        let e = GrepSpec::default().build("(".into(), OutputMode::Lines, false, false).unwrap_err();
        assert!(matches!(e, ExploreError::Pattern(_)), "{e}");
        let o = GrepSpec { context: Some(2), after_context: Some(5), word_regexp: true, ..Default::default() }.build("x".into(), OutputMode::Count, true, false).expect("builds");
        assert_eq!((o.before, o.after, o.word, o.mode), (2, 5, true, OutputMode::Count));
    }

    #[test]
    fn unknown_options_are_refused() {
        assert!(serde_json::from_str::<GrepSpec>(r#"{"ignore_case": true}"#).expect("parses").ignore_case);
        assert!(serde_json::from_str::<GrepSpec>(r#"{"ignorecase": true}"#).is_err());
        assert_eq!(serde_json::from_str::<ExtractSpec>(r#"{"layout": "tree"}"#).expect("parses").layout, Layout::Tree);
        assert!(serde_json::from_str::<ExtractSpec>(r#"{"layout": "flat"}"#).is_err());
    }
}
