//! One requirement, as a row: where it was read, what it is for, and its PEP 508 parse, or
//! its raw text with the parser's error.

use crate::cut;
pub(crate) use pycorpus_archive::normalize_project;
use std::str::FromStr;

/// The file a requirement was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `Requires-Dist` of `PKG-INFO` / `METADATA`.
    CoreMetadata,
    /// `pyproject.toml`: `[build-system] requires`, `[project] dependencies` and
    /// `optional-dependencies`.
    Pyproject,
    /// `setup.cfg`: `[options] install_requires`, `setup_requires`, `[options.extras_require]`.
    SetupCfg,
    /// `*.egg-info/requires.txt`.
    RequiresTxt,
    /// conda's `info/index.json` `depends`.
    CondaIndex,
}

impl Source {
    /// Its name in the tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::CoreMetadata => "core-metadata",
            Source::Pyproject => "pyproject",
            Source::SetupCfg => "setup-cfg",
            Source::RequiresTxt => "requires-txt",
            Source::CondaIndex => "conda-index",
        }
    }

    /// The source [`Source::as_str`] names.
    pub fn parse(s: &str) -> Option<Source> {
        [Source::CoreMetadata, Source::Pyproject, Source::SetupCfg, Source::RequiresTxt, Source::CondaIndex].into_iter().find(|x| x.as_str() == s)
    }
}

/// What a requirement is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Installing the distribution.
    Run,
    /// The extra of that name (normalised).
    Extra(String),
    /// Building it (`[build-system] requires`, `setup_requires`).
    Build,
    /// A conda package's dependency (conda's own match specification, not PEP 508).
    Conda,
}

impl Kind {
    /// Its name in the tables: `run`, `extra:NAME`, `build`, `conda`.
    pub fn as_text(&self) -> String {
        match self {
            Kind::Run => "run".into(),
            Kind::Extra(e) => format!("extra:{e}"),
            Kind::Build => "build".into(),
            Kind::Conda => "conda".into(),
        }
    }

    /// The kind [`Kind::as_text`] names.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "run" => Some(Kind::Run),
            "build" => Some(Kind::Build),
            "conda" => Some(Kind::Conda),
            _ => s.strip_prefix("extra:").map(|e| Kind::Extra(e.to_string())),
        }
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let s = String::deserialize(d)?;
        Kind::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown requirement kind {s:?}")))
    }
}

/// A requirement row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requirement {
    /// Where it was read.
    pub source: Source,
    /// What it is for. A core metadata requirement whose marker asks for one extra
    /// (`extra == "NAME"`) is for that extra.
    pub kind: Kind,
    /// The project it names, normalised (PEP 503); `None` when it does not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its version specifiers as the parser writes them (ordered: `==2.8.*, >=2.8.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specifier: Option<String>,
    /// Its URL (`name @ URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its environment marker as the parser writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// The extras it asks of the project it names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extras: Vec<String>,
    /// The text as written (cut to `limits::VALUE_BYTES`).
    pub raw: String,
    /// Why it does not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Bytes kept of a parse error's message.
const ERROR_BYTES: usize = 1024;

/// Parses `raw` (PEP 508; conda's match specifications are kept raw, with `Kind::Conda`).
pub fn parse_requirement(raw: &str, source: Source, kind: Kind) -> Requirement {
    let (text, was_cut) = cut(raw.trim());
    let mut r = Requirement { source, kind, name: None, specifier: None, url: None, marker: None, extras: Vec::new(), raw: text.to_string(), error: None };
    if was_cut {
        r.error = Some(format!("a requirement of {} bytes: cut to {}, not parsed", raw.len(), text.len()));
        return r;
    }
    if r.kind == Kind::Conda {
        // "name version build": the name is the first word
        r.name = text.split_whitespace().next().map(normalize_project);
        r.specifier = Some(text.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty());
        return r;
    }
    match pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text) {
        Ok(p) => {
            r.name = Some(p.name.to_string());
            r.extras = p.extras.iter().map(ToString::to_string).collect();
            match p.version_or_url {
                Some(pep508_rs::VersionOrUrl::VersionSpecifier(s)) => r.specifier = Some(s.to_string()).filter(|s| !s.is_empty()),
                Some(pep508_rs::VersionOrUrl::Url(u)) => r.url = Some(u.to_string()),
                None => {}
            }
            r.marker = p.marker.contents().map(|m| m.to_string());
            if r.kind == Kind::Run
                && let Some(extra) = r.marker.as_deref().and_then(only_extra)
            {
                r.kind = Kind::Extra(extra);
            }
        }
        // the parser's message quotes the input: a long one is cut
        Err(e) => r.error = Some(crate::cut_to(&e.to_string(), ERROR_BYTES).to_string()),
    }
    r
}

/// The one extra a marker asks for (`extra == 'name'`, as the parser writes it), if it names
/// exactly one.
fn only_extra(marker: &str) -> Option<String> {
    let mut found: Option<&str> = None;
    let mut rest = marker;
    while let Some(at) = rest.find("extra == '") {
        let value = &rest[at + "extra == '".len()..];
        let end = value.find('\'')?;
        let name = &value[..end];
        if found.is_some_and(|f| f != name) {
            return None;
        }
        found = Some(name);
        rest = &value[end..];
    }
    found.map(normalize_project)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Requirement {
        parse_requirement(s, Source::CoreMetadata, Kind::Run)
    }

    #[test]
    fn requirements_are_parsed_into_their_parts() {
        let r = run(r#"Requests[security,Tests] >= 2.8.1, == 2.8.* ; python_version > "3.8""#);
        assert_eq!(r.name.as_deref(), Some("requests"));
        assert_eq!(r.extras, vec!["security", "tests"]);
        assert_eq!(r.specifier.as_deref(), Some("==2.8.*, >=2.8.1")); // the parser orders them
        assert_eq!(r.marker.as_deref(), Some("python_full_version >= '3.9'"));
        assert_eq!((r.kind.as_text(), r.error), ("run".to_string(), None));
        let r = run("pip @ https://example.invalid/pip-1.0.zip");
        assert_eq!((r.name.as_deref(), r.url.as_deref(), r.specifier), (Some("pip"), Some("https://example.invalid/pip-1.0.zip"), None));
        let r = run("zope.interface");
        assert_eq!((r.name.as_deref(), r.specifier, r.marker), (Some("zope-interface"), None, None));
    }

    #[test]
    fn a_requirement_for_one_extra_is_of_that_kind() {
        assert_eq!(run(r#"pytest>=7; extra == "Test_All""#).kind, Kind::Extra("test-all".into()));
        assert_eq!(run(r#"pytest; extra == "a" or extra == "b""#).kind, Kind::Run);
        assert_eq!(run(r#"pytest; python_version < "3.8" and extra == "a""#).kind, Kind::Extra("a".into()));
        assert_eq!(parse_requirement(r#"x; extra == "a""#, Source::Pyproject, Kind::Build).kind, Kind::Build);
    }

    #[test]
    fn what_does_not_parse_is_kept_with_its_error() {
        for bad in ["requests >= ", "==1.0", "foo (>=1.0", "bar; python_version >>> '3'"] {
            let r = run(bad);
            assert_eq!((r.name.as_deref(), r.raw.as_str()), (None, bad.trim()), "{bad}");
            assert!(r.error.as_deref().is_some_and(|e| !e.is_empty()), "{bad}");
        }
        let huge = format!("x>={}", "1".repeat(1 << 20));
        let r = run(&huge);
        assert!(r.error.as_deref().is_some_and(|e| e.contains("cut")) && r.raw.len() <= crate::limits::VALUE_BYTES);
    }

    #[test]
    fn conda_dependencies_are_kept_as_match_specifications() {
        let r = parse_requirement("python >=3.8,<3.9.0a0", Source::CondaIndex, Kind::Conda);
        assert_eq!((r.name.as_deref(), r.specifier.as_deref(), r.error), (Some("python"), Some(">=3.8,<3.9.0a0"), None));
    }
}
