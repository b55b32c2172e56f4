//! Language facts of one Python file: whether it parses (and if not, why), the oldest Python
//! that accepts its syntax, how often it uses each language feature, and what it imports.
//!
//! Parsing is ruff's parser (pinned exactly: its output defines the counts). The walk over the
//! tree is bounded in depth, and deep trees are dropped without recursion ([`drop_parsed`]), so
//! that no pathological file (a million-term sum, thousands of nested brackets) can overflow
//! the stack after parsing; callers run [`analyze_source`] on threads with a large stack ([`STACK_BYTES`])
//! and catch panics ([`analyze_guarded`]).

mod dispose;
mod packaging;
mod py2;
mod run;
mod stdlib;
pub mod store;
mod walk;

pub use dispose::drop_parsed;
pub use packaging::Packaging;
pub use run::{AnalyzeError, AnalyzeSummary, analysis_dir, analyze_corpus};
pub use stdlib::is_stdlib;

use ruff_python_ast::PythonVersion;
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use serde::{Deserialize, Serialize};

/// Stack for threads that parse: our walks recurse once per nesting level (up to
/// [`Limits::max_depth`]); ruff's parser grows its own stack on the heap past shallow nesting.
pub const STACK_BYTES: usize = 256 << 20;

/// Files larger than this are not parsed, by default.
pub const DEFAULT_MAX_FILE_BYTES: usize = 8 << 20;

/// The options of `analyze` as front ends give them (the command line's flags, the module's
/// keyword arguments): the one definition of each, with its default.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzeSpec {
    /// Files larger than this many bytes are recorded as too-large, not parsed.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_MAX_FILE_BYTES, value_name = "BYTES"))]
    pub max_file_bytes: usize,
}

impl Default for AnalyzeSpec {
    fn default() -> AnalyzeSpec {
        AnalyzeSpec { max_file_bytes: DEFAULT_MAX_FILE_BYTES }
    }
}

impl AnalyzeSpec {
    /// The limits for each file.
    pub fn limits(&self) -> Limits {
        Limits { max_bytes: self.max_file_bytes, ..Default::default() }
    }
}

/// Limits for one file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are not parsed (status `too-large`; lines still counted).
    pub max_bytes: usize,
    /// Deepest tree walked; deeper files get status `limit` with the counts of what was seen.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: DEFAULT_MAX_FILE_BYTES, max_depth: 20_000 }
    }
}

/// How a file fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Parsed without errors.
    Ok,
    /// Syntax errors, not recognisably Python 2.
    SyntaxError,
    /// Syntax errors, and Python 2 constructs (print statements, `except E, e:`, `exec`).
    Python2,
    /// Larger than [`Limits::max_bytes`]: not parsed.
    TooLarge,
    /// Neither UTF-8 nor a declared single-byte encoding.
    NotUtf8,
    /// Deeper than [`Limits::max_depth`]: counts cover what was walked.
    Limit,
    /// The parser panicked (a bug in it): recorded, the run goes on.
    Panic,
}

impl Status {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::SyntaxError => "syntax-error",
            Status::Python2 => "python2",
            Status::TooLarge => "too-large",
            Status::NotUtf8 => "not-utf8",
            Status::Limit => "limit",
            Status::Panic => "panic",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Status> {
        [Status::Ok, Status::SyntaxError, Status::Python2, Status::TooLarge, Status::NotUtf8, Status::Limit, Status::Panic].into_iter().find(|x| x.as_str() == s)
    }
}

/// Feature counts of one file. Each is the number of syntax nodes of that kind, with the
/// same meaning as in CPython's `ast` module (checked by the oracle test).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// f-string expressions (`JoinedStr`, not counting format specs).
    pub fstrings: u32,
    /// t-strings (PEP 750).
    pub tstrings: u32,
    /// f-strings holding a string with their own quote inside a replacement field (PEP 701).
    pub nested_quote_fstrings: u32,
    /// Annotated parameters (including `*args` and `**kwargs`).
    pub annotated_params: u32,
    /// Functions with a return annotation.
    pub annotated_returns: u32,
    /// Annotated assignments (`x: int = 1`).
    pub annotated_vars: u32,
    /// `:=`.
    pub walrus: u32,
    /// `match` statements.
    pub match_stmts: u32,
    /// `async def`.
    pub async_defs: u32,
    /// `async for`.
    pub async_fors: u32,
    /// `async with`.
    pub async_withs: u32,
    /// `await`.
    pub awaits: u32,
    /// `async for` clauses in comprehensions.
    pub async_comprehensions: u32,
    /// Decorators on functions and classes.
    pub decorators: u32,
    /// Imports of the `dataclasses` module (`import dataclasses`, `from dataclasses import ...`).
    pub dataclass_imports: u32,
    /// `@dataclass`, `@dataclasses.dataclass`, with or without arguments.
    pub dataclass_decorators: u32,
    /// `try` statements with `except*`.
    pub except_star: u32,
    /// Type parameter lists (`def f[T]`, `class C[T]`, `type A[T] = ...`).
    pub type_param_lists: u32,
    /// `type` statements.
    pub type_stmts: u32,
    /// Functions and lambdas with positional-only parameters.
    pub posonly_functions: u32,
    /// List comprehensions.
    pub list_comps: u32,
    /// Set comprehensions.
    pub set_comps: u32,
    /// Dict comprehensions.
    pub dict_comps: u32,
    /// Generator expressions.
    pub generator_exps: u32,
    /// `lambda`.
    pub lambdas: u32,
    /// `global` statements.
    pub globals: u32,
    /// `nonlocal` statements.
    pub nonlocals: u32,
    /// Starred expressions (`*a` in calls, assignments, literals).
    pub starred: u32,
    /// Python 2 `print` statements (only for files that do not parse as Python 3).
    pub print_stmts: u32,
    /// Function definitions (sync and async).
    pub functions: u32,
    /// Class definitions.
    pub classes: u32,
    /// Docstrings of the module, classes and functions.
    pub docstrings: u32,
}

/// Everything learnt about one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// How parsing went.
    pub status: Status,
    /// The first error, for files that did not parse.
    pub error: Option<String>,
    /// The oldest Python 3 whose grammar accepts the file, when newer than 3.7 (`"3.10"`);
    /// `None`: nothing newer than 3.7 is needed (or the file did not parse).
    pub min_version: Option<String>,
    /// Physical lines.
    pub lines: u64,
    /// Lines that hold more than blanks and a comment.
    pub code_lines: u64,
    /// Feature counts.
    pub counts: Counts,
    /// Top-level names of the modules imported absolutely (`os`, `numpy`), sorted, once each.
    pub imports: Vec<String>,
}

/// Counts physical and code lines (one pass; lines found with memchr).
fn count_lines(src: &[u8]) -> (u64, u64) {
    let (mut lines, mut code, mut start) = (0u64, 0u64, 0usize);
    loop {
        let end = memchr::memchr(b'\n', &src[start..]).map_or(src.len(), |i| start + i);
        if end == src.len() && start == end {
            break;
        }
        lines += 1;
        let first = src[start..end].iter().find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\x0c'));
        code += u64::from(first.is_some_and(|&b| b != b'#'));
        if end == src.len() {
            break;
        }
        start = end + 1;
    }
    (lines, code)
}

/// The source as text, as CPython decodes it: UTF-8 (BOM dropped) unless a PEP 263 cookie in
/// the first two lines names another encoding. Latin-1 is mapped byte for byte; other
/// encodings (windows-1251, big5, iso-8859-5, ...) through encoding_rs by their label. `None`
/// when the bytes are not valid in the encoding that applies.
pub fn decode(src: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let src = src.strip_prefix(b"\xef\xbb\xbf").unwrap_or(src);
    if let Ok(s) = std::str::from_utf8(src) {
        return Some(s.into());
    }
    let cookie = src.split(|&b| b == b'\n').take(2).find_map(|l| {
        let l = String::from_utf8_lossy(l).to_ascii_lowercase();
        let at = l.find("coding")?;
        let rest = l[at + 6..].strip_prefix([':', '='])?;
        let name: String = rest.trim_start().chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
        l.trim_start().starts_with('#').then(|| name.replace('_', "-"))
    })?;
    if ["latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1", "iso-latin-1"].contains(&cookie.as_str()) {
        return Some(src.iter().map(|&b| b as char).collect::<String>().into());
    }
    let enc = encoding_rs::Encoding::for_label(cookie.as_bytes())?;
    let (text, had_errors) = enc.decode_without_bom_handling(src);
    (!had_errors).then_some(text)
}

/// The version in "… added in Python 3.10 …" of an unsupported-syntax message.
fn added_in(message: &str) -> Option<(u8, u8)> {
    let rest = &message[message.find("added in Python ")? + "added in Python ".len()..];
    let v: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let (major, minor) = v.trim_end_matches('.').split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Analyses one file's bytes.
pub fn analyze_source(src: &[u8], limits: &Limits) -> Facts {
    let (lines, code_lines) = count_lines(src);
    let mut facts = Facts { status: Status::Ok, error: None, min_version: None, lines, code_lines, counts: Counts::default(), imports: Vec::new() };
    if src.len() > limits.max_bytes {
        facts.status = Status::TooLarge;
        return facts;
    }
    let Some(text) = decode(src) else {
        facts.status = Status::NotUtf8;
        return facts;
    };
    // Parsed for 3.7, the oldest target the parser knows: newer syntax shows up as
    // "unsupported syntax" errors that name the version that added it.
    let parsed = parse_unchecked(&text, ParseOptions::from(Mode::Module).with_target_version(PythonVersion::PY37));
    if let Some(e) = parsed.errors().first() {
        facts.error = Some(format!("{} at byte {}", e.error, u32::from(e.location.start())));
        let py2 = py2::python2_prints(&text);
        facts.status = if py2.is_some() { Status::Python2 } else { Status::SyntaxError };
        facts.counts.print_stmts = py2.unwrap_or(0);
        // An invalid tree can be as deep as a valid one.
        if let Some(module) = parsed.try_into_module() {
            drop_parsed(module);
        }
        return facts;
    }
    facts.min_version = parsed.unsupported_syntax_errors().iter().filter_map(|e| added_in(&e.to_string())).max().map(|(a, b)| format!("{a}.{b}"));
    let Some(module) = parsed.try_into_module() else {
        facts.status = Status::SyntaxError;
        facts.error = Some("not a module".into());
        return facts;
    };
    let mut w = walk::Walker::new(limits.max_depth);
    w.module(module.syntax());
    facts.counts = std::mem::take(&mut w.counts);
    facts.imports = w.imports.into_iter().collect();
    if w.hit_limit {
        facts.status = Status::Limit;
        facts.error = Some(format!("nested deeper than {} levels", limits.max_depth));
    }
    drop_parsed(module);
    facts
}

/// [`analyze_source`], with a panic in the parser recorded as status `panic`.
pub fn analyze_guarded(src: &[u8], limits: &Limits) -> Facts {
    match std::panic::catch_unwind(|| analyze_source(src, limits)) {
        Ok(f) => f,
        Err(p) => {
            let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into());
            let (lines, code_lines) = count_lines(src);
            Facts { status: Status::Panic, error: Some(what), min_version: None, lines, code_lines, counts: Counts::default(), imports: Vec::new() }
        }
    }
}

#[cfg(test)]
mod tests;
