//! One filter language for every command: which files and distributions to look at.

use crate::FileRow;
use globset::{Glob, GlobMatcher};
use pycorpus_archive::{DistType, SkipReason, normalize_project};
use std::path::Path;

/// Invalid filter input.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A glob that does not parse.
    #[error("invalid glob {glob:?}: {reason}")]
    Glob {
        /// The glob.
        glob: String,
        /// Why.
        reason: String,
    },
    /// A date that does not parse.
    #[error("invalid date {0:?}: use YYYY-MM-DD or an RFC 3339 time such as 2024-05-01T12:00:00Z")]
    Date(String),
    /// An unknown skip reason or distribution type.
    #[error("unknown {what} {value:?}; expected one of: {expected}")]
    Value {
        /// Which option.
        what: &'static str,
        /// The value.
        value: String,
        /// The accepted values.
        expected: String,
    },
    /// A problem with one option, named as the caller spells it (`--since`, `since=`).
    #[error("{option}: {source}")]
    Option {
        /// The option's name.
        option: String,
        /// The problem.
        source: Box<FilterError>,
    },
    /// A projects file that cannot be read.
    #[error("cannot read the projects file {path}: {source}")]
    ProjectsFile {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Matches project names: globs, plus names and prefixes from a projects file. Everything is
/// compared after PEP 503 normalisation.
#[derive(Debug, Clone, Default)]
pub struct ProjectMatcher {
    globs: Vec<GlobMatcher>,
    /// The literal start of each glob (`django` of `django*`; empty for `*x`).
    glob_prefixes: Vec<String>,
    names: std::collections::HashSet<String>,
    prefixes: Vec<String>,
}

impl ProjectMatcher {
    /// True when nothing was asked (everything matches).
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty() && self.names.is_empty() && self.prefixes.is_empty()
    }

    /// Adds a glob such as `django*`.
    pub fn add_glob(&mut self, glob: &str) -> Result<(), FilterError> {
        let normalized = normalize_glob(glob);
        let g = Glob::new(&normalized).map_err(|e| FilterError::Glob { glob: glob.into(), reason: e.to_string() })?;
        self.globs.push(g.compile_matcher());
        let literal = normalized.find(['*', '?', '[', '{', '\\']).map_or(normalized.as_str(), |i| &normalized[..i]);
        self.glob_prefixes.push(literal.to_string());
        Ok(())
    }

    /// Adds the lines of a projects file: one name per line; a trailing `*` makes a prefix;
    /// blank lines and `#` comments are ignored.
    pub fn add_file(&mut self, path: &Path) -> Result<(), FilterError> {
        let text = std::fs::read_to_string(path).map_err(|e| FilterError::ProjectsFile { path: path.display().to_string(), source: e })?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            match line.strip_suffix('*') {
                Some(prefix) => self.prefixes.push(normalize_prefix(prefix)),
                None => {
                    self.names.insert(normalize_project(line));
                }
            }
        }
        Ok(())
    }

    /// True when some project name between `lo` and `hi` (inclusive) could be selected: lets
    /// a reader skip row groups and shards by their min/max statistics.
    pub fn may_match_range(&self, lo: &str, hi: &str) -> bool {
        let prefix_in = |p: &str| hi >= p && (lo <= p || lo.starts_with(p));
        self.is_empty() || self.names.iter().any(|n| lo <= n.as_str() && n.as_str() <= hi) || self.prefixes.iter().any(|p| prefix_in(p)) || self.glob_prefixes.iter().any(|p| prefix_in(p))
    }

    /// True when `project` (normalised) is selected.
    pub fn matches(&self, project: &str) -> bool {
        self.is_empty() || self.names.contains(project) || self.prefixes.iter().any(|p| project.starts_with(p.as_str())) || self.globs.iter().any(|g| g.is_match(project))
    }
}

fn normalize_glob(glob: &str) -> String {
    // Normalise the literal runs of a glob like a project name, keeping the glob characters.
    let mut out = String::new();
    let mut lit = String::new();
    for c in glob.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}' | ',' | '!') {
            out.push_str(&normalize_prefix(&lit));
            lit.clear();
            out.push(c);
        } else {
            lit.push(c);
        }
    }
    out.push_str(&normalize_prefix(&lit));
    out
}

/// Like [`normalize_project`] but keeps a trailing separator (`django-` stays `django-`).
fn normalize_prefix(s: &str) -> String {
    let n = normalize_project(s);
    if s.ends_with(['-', '_', '.']) { format!("{n}-") } else { n }
}

/// Parses `YYYY-MM-DD` (midnight UTC) or an RFC 3339 time into µs since the epoch.
pub fn parse_date(s: &str) -> Result<i64, FilterError> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_microsecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>()
        && let Ok(z) = d.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp().as_microsecond());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && let Ok(z) = dt.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp().as_microsecond());
    }
    Err(FilterError::Date(s.to_string()))
}

/// The filters shared by every command. An empty filter selects everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Projects.
    pub projects: ProjectMatcher,
    /// Projects left out (an opt-out list: `export --exclude-projects-file`); none when empty.
    pub exclude_projects: ProjectMatcher,
    /// Exact versions (any of).
    pub versions: Vec<String>,
    /// Uploaded at or after (µs).
    pub since: Option<i64>,
    /// Uploaded before (µs).
    pub until: Option<i64>,
    /// Globs on the path inside the distribution (any of).
    pub paths: Vec<GlobMatcher>,
    /// File extensions without the dot, lower case (any of): the file name ends with `.` and
    /// one of them, whatever the case, so `tar.gz` works as well as `py`.
    pub exts: Vec<String>,
    /// Smallest size.
    pub min_size: Option<u64>,
    /// Largest size.
    pub max_size: Option<u64>,
    /// Skip reasons (any of); the pseudo-reason `none` selects stored files.
    pub skip_reasons: Vec<Option<SkipReason>>,
    /// Distribution types (any of).
    pub dist_types: Vec<DistType>,
    /// One row per blob id (the first in index order).
    pub unique: bool,
    /// Shard numbers (any of; empty: all): a cluster task's share of the corpus.
    pub shards: Vec<u32>,
    /// Only rows whose blob is one of these (`None`: any): a search index's candidates. A
    /// sealed shard's scan tests it on the `hash` column before decoding the others, so a
    /// selective search reads a few rows, not the whole index.
    pub hash_in: Option<std::sync::Arc<pycorpus_store::OidSet>>,
}

impl Filter {
    /// Adds a path glob (matched against the path inside the distribution; `**` crosses `/`).
    pub fn add_path_glob(&mut self, glob: &str) -> Result<(), FilterError> {
        let g = globset::GlobBuilder::new(glob).literal_separator(false).build().map_err(|e| FilterError::Glob { glob: glob.into(), reason: e.to_string() })?;
        self.paths.push(g.compile_matcher());
        Ok(())
    }

    /// Adds a skip reason by name, or `none` for stored files.
    pub fn add_skip_reason(&mut self, s: &str) -> Result<(), FilterError> {
        if s == "none" || s == "stored" {
            self.skip_reasons.push(None);
            return Ok(());
        }
        let r = SkipReason::parse(s).ok_or_else(|| FilterError::Value {
            what: "skip reason",
            value: s.into(),
            expected: std::iter::once("none").chain(SkipReason::ALL.iter().map(|r| r.as_str())).collect::<Vec<_>>().join(", "),
        })?;
        self.skip_reasons.push(Some(r));
        Ok(())
    }

    /// Adds a distribution type by name.
    pub fn add_dist_type(&mut self, s: &str) -> Result<(), FilterError> {
        let t = DistType::parse(s).ok_or_else(|| FilterError::Value { what: "distribution type", value: s.into(), expected: "sdist, wheel, egg, conda".into() })?;
        self.dist_types.push(t);
        Ok(())
    }

    /// True when the distribution-level columns can match (checked before its files).
    pub fn matches_release(&self, project: &str, version: &str, uploaded_on: i64, dist_type: DistType) -> bool {
        self.projects.matches(project)
            && (self.exclude_projects.is_empty() || !self.exclude_projects.matches(project))
            && (self.versions.is_empty() || self.versions.iter().any(|v| v == version))
            && self.since.is_none_or(|s| uploaded_on >= s)
            && self.until.is_none_or(|u| uploaded_on < u)
            && (self.dist_types.is_empty() || self.dist_types.contains(&dist_type))
    }

    /// True when the row matches every filter (except `unique`, applied by the caller).
    pub fn matches(&self, row: &FileRow) -> bool {
        self.hash_in.as_ref().is_none_or(|h| h.contains(&row.hash))
            && self.matches_release(&row.project_name, &row.project_version, row.uploaded_on, row.dist_type)
            && self.matches_file(row.inner_path(), row.size, row.skip_reason.map(SkipReason::as_str))
    }

    /// True when the file-level columns match: the path inside the distribution, the size
    /// and the skip reason (by name).
    pub fn matches_file(&self, inner: &str, size: u64, skip_reason: Option<&str>) -> bool {
        (self.paths.is_empty() || self.paths.iter().any(|g| g.is_match(inner)))
            && (self.exts.is_empty() || self.exts.iter().any(|x| has_ext(inner, x)))
            && self.min_size.is_none_or(|m| size >= m)
            && self.max_size.is_none_or(|m| size <= m)
            && (self.skip_reasons.is_empty() || self.skip_reasons.iter().any(|r| r.map(SkipReason::as_str) == skip_reason))
    }
}

/// False when a row whose full `path` column is `path` cannot pass an extension filter of
/// `exts` (its inner path ends the same way): a test a scan can run on that column alone.
pub(crate) fn may_have_ext(exts: &[String], path: &str) -> bool {
    exts.is_empty() || exts.iter().any(|x| has_ext(path, x))
}

/// True when the file name at the end of `path` ends with `.ext` (ASCII case folded). Called
/// for every row of a scan: a suffix test, no search.
fn has_ext(path: &str, ext: &str) -> bool {
    let (p, e) = (path.as_bytes(), ext.as_bytes());
    p.len() > e.len() && p[p.len() - e.len() - 1] == b'.' && p[p.len() - e.len()..].eq_ignore_ascii_case(e) && !e.contains(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryType, FileEntry};

    fn row(project: &str, path: &str, size: u64, skip: Option<SkipReason>) -> FileRow {
        let rel = crate::test_release(project, parse_date("2024-05-01").expect("date"));
        let e =
            FileEntry { path: path.into(), archive_path: path.into(), size, hash: pycorpus_store::Oid::for_blob(b""), skip_reason: skip, lines: None, entry_type: EntryType::File, link_target: None };
        FileRow::new(&rel, &e)
    }

    #[test]
    fn filters_combine() {
        let r = row("django", "django-1.0/django/__init__.py", 100, None);
        assert_eq!(r.inner_path(), "django-1.0/django/__init__.py");
        let mut f = Filter::default();
        assert!(f.matches(&r));
        f.projects.add_glob("Djan*").expect("glob");
        assert!(f.matches(&r));
        f.exts.push("py".into());
        assert!(f.matches(&r));
        f.add_path_glob("**/__init__.py").expect("glob");
        assert!(f.matches(&r));
        f.min_size = Some(101);
        assert!(!f.matches(&r));
        f.min_size = None;
        f.add_skip_reason("binary").expect("reason");
        assert!(!f.matches(&r));
        f.add_skip_reason("none").expect("reason");
        assert!(f.matches(&r));
        f.since = Some(parse_date("2024-05-02").expect("date"));
        assert!(!f.matches(&r));
        assert!(f.add_skip_reason("nope").is_err());
        assert!(f.add_path_glob("[").is_err());
    }

    #[test]
    fn extensions_are_name_suffixes() {
        assert!(has_ext("a-1.0/pkg/mod.py", "py") && has_ext("a/MOD.PY", "py") && has_ext(".py", "py"));
        assert!(has_ext("a/data.tar.gz", "tar.gz") && has_ext("a/data.tar.gz", "gz"));
        assert!(!has_ext("a/mod.pyc", "py") && !has_ext("a/py", "py") && !has_ext("py", "py") && !has_ext("a/modpy", "py"));
        assert!(!has_ext("a.py/b", "py/b"), "an extension never spans folders");
    }

    #[test]
    fn projects_file_names_and_prefixes() {
        let dir = std::env::temp_dir().join(format!("pycorpus-filter-{}", std::process::id()));
        std::fs::write(&dir, "# comment\nZope.Interface\nazure-*\n\n").expect("write");
        let mut m = ProjectMatcher::default();
        m.add_file(&dir).expect("read");
        std::fs::remove_file(&dir).ok();
        assert!(m.matches("zope-interface"));
        assert!(m.matches("azure-storage"));
        assert!(!m.matches("azure"));
        assert!(!m.matches("requests"));
    }

    #[test]
    fn project_ranges_for_pruning() {
        let mut m = ProjectMatcher::default();
        assert!(m.may_match_range("a", "b"), "no filter: everything");
        m.add_glob("djan*").expect("glob");
        assert!(m.may_match_range("d", "e") && m.may_match_range("django", "django") && m.may_match_range("dj", "djz"));
        assert!(!m.may_match_range("a", "c") && !m.may_match_range("djz", "z"));
        assert!(m.may_match_range("django-a", "zzz"), "the min itself starts with the prefix");
        let mut names = ProjectMatcher::default();
        names.names.insert("numpy".into());
        assert!(names.may_match_range("n", "o") && !names.may_match_range("nv", "z"));
        let mut any = ProjectMatcher::default();
        any.add_glob("*-utils").expect("glob");
        assert!(any.may_match_range("a", "b"), "a glob starting with a wildcard rules nothing out");
    }

    /// [`FILTERS`] names every field of [`FilterSpec`], in order: the list front ends derive
    /// their options from cannot drift from the struct.
    #[test]
    fn the_filter_list_is_the_specs_fields() {
        let names: Vec<&str> = FILTERS.iter().map(|(n, _)| *n).collect();
        assert_eq!(crate::struct_fields::<FilterSpec>(), names.as_slice());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10"), Ok(10));
        assert_eq!(parse_size("10K"), Ok(10240));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("1X").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-02").expect("date"), 86_400_000_000);
        assert_eq!(parse_date("1970-01-01T00:00:01Z").expect("date"), 1_000_000);
        assert!(parse_date("yesterday").is_err());
    }
}

/// The filters as text, as a command line or a Python call gives them: the one definition of
/// every filter, its name, its help and its checks, for every interface. The command line
/// flattens it into its commands (`--min-size`: the `clap` feature), the Python module
/// deserialises its keyword arguments into it (`min_size=`), and [`FILTERS`] lists the names
/// with the kind of value each takes (tests check that the three agree).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct FilterSpec {
    /// Project name glob (PEP 503 normalised; repeatable), e.g. 'django*'.
    #[cfg_attr(feature = "clap", arg(long, value_name = "GLOB", help_heading = "Filters"))]
    pub project: Vec<String>,
    /// File of project names, one per line; a trailing * makes a prefix.
    #[cfg_attr(feature = "clap", arg(long, value_name = "FILE", help_heading = "Filters"))]
    pub projects_file: Option<std::path::PathBuf>,
    /// Exact version (repeatable).
    #[cfg_attr(feature = "clap", arg(long, value_name = "V", help_heading = "Filters"))]
    pub version: Vec<String>,
    /// Uploaded on or after (YYYY-MM-DD or RFC 3339).
    #[cfg_attr(feature = "clap", arg(long, value_name = "DATE", help_heading = "Filters"))]
    pub since: Option<String>,
    /// Uploaded before.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DATE", help_heading = "Filters"))]
    pub until: Option<String>,
    /// Glob on the path inside the distribution (repeatable), e.g. '**/setup.py'.
    #[cfg_attr(feature = "clap", arg(long, value_name = "GLOB", help_heading = "Filters"))]
    pub path: Vec<String>,
    /// File extension without the dot (repeatable or comma-separated).
    #[cfg_attr(feature = "clap", arg(long, value_name = "EXT", value_delimiter = ',', help_heading = "Filters"))]
    pub ext: Vec<String>,
    /// Smallest file size (bytes; K, M, G suffixes allowed).
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", value_parser = parse_size, help_heading = "Filters"))]
    pub min_size: Option<u64>,
    /// Largest file size.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", value_parser = parse_size, help_heading = "Filters"))]
    pub max_size: Option<u64>,
    /// Skip reason (repeatable): none (stored files), binary, empty, too-large, version-control,
    /// virtualenv, text-long-lines, symlink, hardlink.
    #[cfg_attr(feature = "clap", arg(long, value_name = "R", value_delimiter = ',', help_heading = "Filters"))]
    pub skip_reason: Vec<String>,
    /// Distribution type (repeatable): sdist, wheel, egg, conda.
    #[cfg_attr(feature = "clap", arg(long, value_name = "T", value_delimiter = ',', help_heading = "Filters"))]
    pub dist_type: Vec<String>,
    /// One row per unique blob.
    #[cfg_attr(feature = "clap", arg(long, help_heading = "Filters"))]
    pub unique: bool,
    /// Only these shards (by number; repeat for more): one task's share on a cluster. Unique
    /// blobs are those these shards store, so tasks over every shard never overlap.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", help_heading = "Filters"))]
    pub shard: Vec<u32>,
}

/// The kind of value a filter takes (what a front end checks before [`FilterSpec::build`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    /// Strings, one or several.
    Strings,
    /// A path to a file.
    Path,
    /// A date or a time.
    Date,
    /// A size in bytes.
    Size,
    /// On or off.
    Flag,
    /// Shard numbers, one or several.
    Shards,
}

impl FilterKind {
    /// Its name, as front ends show it.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterKind::Strings => "strings",
            FilterKind::Path => "path",
            FilterKind::Date => "date",
            FilterKind::Size => "size",
            FilterKind::Flag => "flag",
            FilterKind::Shards => "shards",
        }
    }
}

/// Every field of [`FilterSpec`] with the kind of value it takes, in its order.
pub const FILTERS: &[(&str, FilterKind)] = &[
    ("project", FilterKind::Strings),
    ("projects_file", FilterKind::Path),
    ("version", FilterKind::Strings),
    ("since", FilterKind::Date),
    ("until", FilterKind::Date),
    ("path", FilterKind::Strings),
    ("ext", FilterKind::Strings),
    ("min_size", FilterKind::Size),
    ("max_size", FilterKind::Size),
    ("skip_reason", FilterKind::Strings),
    ("dist_type", FilterKind::Strings),
    ("unique", FilterKind::Flag),
    ("shard", FilterKind::Shards),
];

/// Parses `123`, `10K`, `5M`, `1G` (powers of 1024; `KiB`/`KB` spellings accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}: expected a number with an optional K, M or G suffix"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("invalid size unit in {s:?}: use K, M or G")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

impl FilterSpec {
    /// Builds the filter; an error names the option through `name` (which turns a field name
    /// such as `min_size` into the caller's spelling: `--min-size` on the command line).
    pub fn build(&self, name: &dyn Fn(&str) -> String) -> Result<Filter, FilterError> {
        let named = |field: &str| {
            let option = name(field);
            move |e: FilterError| FilterError::Option { option, source: Box::new(e) }
        };
        let mut f = Filter::default();
        for p in &self.project {
            f.projects.add_glob(p).map_err(named("project"))?;
        }
        if let Some(file) = &self.projects_file {
            f.projects.add_file(file).map_err(named("projects_file"))?;
        }
        f.versions = self.version.clone();
        f.since = self.since.as_deref().map(parse_date).transpose().map_err(named("since"))?;
        f.until = self.until.as_deref().map(parse_date).transpose().map_err(named("until"))?;
        for p in &self.path {
            f.add_path_glob(p).map_err(named("path"))?;
        }
        f.exts = self.ext.iter().map(|e| e.trim_start_matches('.').to_ascii_lowercase()).collect();
        f.min_size = self.min_size;
        f.max_size = self.max_size;
        for r in &self.skip_reason {
            f.add_skip_reason(r).map_err(named("skip_reason"))?;
        }
        for t in &self.dist_type {
            f.add_dist_type(t).map_err(named("dist_type"))?;
        }
        f.unique = self.unique;
        f.shards = self.shard.clone();
        Ok(f)
    }
}
