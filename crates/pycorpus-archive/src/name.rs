//! Distribution file names: which format a file is, and the project and version it names.
//!
//! The rules are those of the packaging specifications: wheel names (PEP 427/491), sdist names
//! (PEP 625, plus the legacy `name-version.ext` forms found in old uploads), egg names
//! (`name-version(-pyX.Y(-platform))?.egg`) and conda names (`name-version-build.ext`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of distribution file, as recorded in the `dist_type` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DistType {
    /// A source distribution (`.tar.gz`, `.tgz`, `.tar.bz2`, `.tar.xz`, `.zip`).
    Sdist,
    /// A built wheel (`.whl`).
    Wheel,
    /// A setuptools egg (`.egg`).
    Egg,
    /// A conda package (`.conda`, or a `.tar.bz2` holding `info/index.json`).
    Conda,
}

impl DistType {
    /// The lower-case name used in the index and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            DistType::Sdist => "sdist",
            DistType::Wheel => "wheel",
            DistType::Egg => "egg",
            DistType::Conda => "conda",
        }
    }

    /// Parses `sdist`, `wheel`, `egg` or `conda`.
    pub fn parse(s: &str) -> Option<DistType> {
        Some(match s {
            "sdist" => DistType::Sdist,
            "wheel" => DistType::Wheel,
            "egg" => DistType::Egg,
            "conda" => DistType::Conda,
            _ => return None,
        })
    }
}

impl fmt::Display for DistType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a distribution's file name says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFilename {
    /// The project name, normalised per PEP 503 (`Foo_Bar.baz` -> `foo-bar-baz`).
    pub project: String,
    /// The version exactly as spelled in the file name.
    pub version: String,
    /// The kind of file.
    pub dist_type: DistType,
}

/// The file-name endings that name a distribution file, longest first.
const SDIST_EXTS: &[&str] = &[".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz", ".zip", ".tar"];

/// Normalises a project name per PEP 503: runs of `-`, `_`, `.` become one `-`, lower case.
pub fn normalize_project(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// True when `file_name` ends like a distribution file that we know how to read.
pub fn is_distribution_name(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    lower.ends_with(".whl") || lower.ends_with(".egg") || lower.ends_with(".conda") || SDIST_EXTS.iter().any(|e| lower.ends_with(e))
}

impl DistFilename {
    /// Parses a distribution file name. `project_hint`, when the caller knows the project (from
    /// the index, a lock file or the archive's own metadata), resolves the ambiguity of legacy
    /// sdist names such as `py-3to2-1.0.tar.gz`. Returns `None` for names that are not
    /// distribution files.
    pub fn parse(file_name: &str, project_hint: Option<&str>) -> Option<DistFilename> {
        let lower = file_name.to_ascii_lowercase();
        if let Some(stem) = strip_suffix_ci(file_name, &lower, ".whl") {
            // {name}-{version}(-{build})?-{python}-{abi}-{platform}
            let parts: Vec<&str> = stem.split('-').collect();
            if parts.len() < 5 {
                return None;
            }
            return Some(DistFilename { project: normalize_project(parts[0]), version: parts[1].to_string(), dist_type: DistType::Wheel });
        }
        if let Some(stem) = strip_suffix_ci(file_name, &lower, ".egg") {
            // {name}-{version}(-py{X.Y}(-{platform})?)?
            let mut parts: Vec<&str> = stem.split('-').collect();
            if let Some(i) = parts.iter().position(|p| p.starts_with("py") && p[2..].starts_with(|c: char| c.is_ascii_digit())) {
                parts.truncate(i);
            }
            if parts.len() < 2 {
                return None;
            }
            let version = parts.pop()?.to_string();
            return Some(DistFilename { project: normalize_project(&parts.join("-")), version, dist_type: DistType::Egg });
        }
        if let Some(stem) = strip_suffix_ci(file_name, &lower, ".conda") {
            return parse_conda(stem);
        }
        let ext = SDIST_EXTS.iter().find(|e| lower.ends_with(*e))?;
        let stem = &file_name[..file_name.len() - ext.len()];
        let (project, version) = split_name_version(stem, project_hint)?;
        Some(DistFilename { project, version, dist_type: DistType::Sdist })
    }

    /// The conda reading of a `.tar.bz2` name (`name-version-build`), used once the archive is
    /// known to be a conda package.
    pub fn parse_conda_tarball(file_name: &str) -> Option<DistFilename> {
        let lower = file_name.to_ascii_lowercase();
        parse_conda(strip_suffix_ci(file_name, &lower, ".tar.bz2")?)
    }
}

fn strip_suffix_ci<'a>(name: &'a str, lower: &str, suffix: &str) -> Option<&'a str> {
    lower.ends_with(suffix).then(|| &name[..name.len() - suffix.len()])
}

fn parse_conda(stem: &str) -> Option<DistFilename> {
    let mut it = stem.rsplitn(3, '-');
    let _build = it.next()?;
    let version = it.next()?;
    let name = it.next()?;
    Some(DistFilename { project: normalize_project(name), version: version.to_string(), dist_type: DistType::Conda })
}

/// Splits `name-version`. With a hint, the hint decides (compared after normalisation);
/// otherwise the version starts at the first `-` followed by a digit, else at the last `-`.
fn split_name_version(stem: &str, hint: Option<&str>) -> Option<(String, String)> {
    if let Some(hint) = hint {
        let want = normalize_project(hint);
        for (i, _) in stem.match_indices('-') {
            if normalize_project(&stem[..i]) == want && i + 1 < stem.len() {
                return Some((want, stem[i + 1..].to_string()));
            }
        }
    }
    let bytes = stem.as_bytes();
    let split = (0..bytes.len()).find(|&i| bytes[i] == b'-' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)).or_else(|| stem.rfind('-'))?;
    if split == 0 || split + 1 >= stem.len() {
        return None;
    }
    Some((normalize_project(&stem[..split]), stem[split + 1..].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str) -> (String, String, DistType) {
        let d = DistFilename::parse(name, None).expect(name);
        (d.project, d.version, d.dist_type)
    }

    #[test]
    fn normalises_names() {
        assert_eq!(normalize_project("Foo__Bar.baz"), "foo-bar-baz");
        assert_eq!(normalize_project("PyYAML"), "pyyaml");
        assert_eq!(normalize_project("zope.interface"), "zope-interface");
    }

    #[test]
    fn parses_each_kind() {
        assert_eq!(p("requests-2.34.2-py3-none-any.whl"), ("requests".into(), "2.34.2".into(), DistType::Wheel));
        assert_eq!(p("numpy-2.0.0-1-cp312-cp312-manylinux_2_17_x86_64.whl").1, "2.0.0");
        assert_eq!(p("python-dateutil-2.9.0.tar.gz"), ("python-dateutil".into(), "2.9.0".into(), DistType::Sdist));
        assert_eq!(p("Django-1.0.zip"), ("django".into(), "1.0".into(), DistType::Sdist));
        assert_eq!(p("foo-1.0.tar.bz2").2, DistType::Sdist);
        assert_eq!(p("foo-1.0.tgz").1, "1.0");
        assert_eq!(p("setuptools-0.6c11-py2.7.egg"), ("setuptools".into(), "0.6c11".into(), DistType::Egg));
        assert_eq!(p("my_pkg-1.2-py3.8-linux-x86_64.egg"), ("my-pkg".into(), "1.2".into(), DistType::Egg));
        assert_eq!(p("numpy-1.26.4-py312h8753938_0.conda"), ("numpy".into(), "1.26.4".into(), DistType::Conda));
        let c = DistFilename::parse_conda_tarball("python-dateutil-2.9.0-pyhd8ed1ab_0.tar.bz2").expect("conda");
        assert_eq!((c.project.as_str(), c.version.as_str()), ("python-dateutil", "2.9.0"));
    }

    #[test]
    fn hint_resolves_legacy_names() {
        assert_eq!(p("py-3to2-1.0.tar.gz").0, "py");
        let d = DistFilename::parse("py-3to2-1.0.tar.gz", Some("py_3to2")).expect("parse");
        assert_eq!((d.project.as_str(), d.version.as_str()), ("py-3to2", "1.0"));
    }

    #[test]
    fn rejects_non_distributions() {
        assert!(DistFilename::parse("README.md", None).is_none());
        assert!(DistFilename::parse("bad.whl", None).is_none());
        assert!(DistFilename::parse("-1.0.tar.gz", None).is_none());
        assert!(!is_distribution_name("x.txt"));
        assert!(is_distribution_name("X-1.TAR.GZ"));
    }
}
