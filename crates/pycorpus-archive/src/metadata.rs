//! Release metadata found inside distributions: `PKG-INFO` / `METADATA` (core metadata, an
//! RFC 822-style header block) and conda's `info/index.json`.

use crate::DistType;
use serde::{Deserialize, Serialize};

/// The fields we keep from a distribution's own metadata. All optional: old uploads often
/// lack them, and a distribution without metadata is still ingested.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `Name` (as written, not normalised).
    pub name: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Summary`.
    pub summary: Option<String>,
    /// `License-Expression`, else `License` (first line).
    pub license: Option<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// Every `Classifier`.
    pub classifiers: Vec<String>,
    /// `Project-URL` (`label, url`) entries, and `Home-page` as `Homepage`; first label wins.
    #[serde(default)]
    pub project_urls: Vec<(String, String)>,
}

/// Where a distribution keeps its metadata file: returns true when `path` (normalised, inside
/// the archive) is that file for a distribution of type `dist_type`.
pub fn is_metadata_path(dist_type: DistType, path: &str) -> bool {
    let comps: Vec<&str> = path.split('/').collect();
    match (dist_type, comps.as_slice()) {
        (DistType::Sdist, [_, "PKG-INFO"]) => true,
        (DistType::Wheel, [dir, "METADATA"]) => dir.ends_with(".dist-info"),
        (DistType::Egg, ["EGG-INFO", "PKG-INFO"]) => true,
        (DistType::Conda | DistType::Sdist, ["info", "index.json"]) => true,
        _ => false,
    }
}

/// Hands `f` each header of an RFC 822-style block (core metadata, a wheel's `WHEEL`): up to
/// the first blank line, continuation lines folded into the header before them (joined by
/// newlines), names in lower case, values trimmed. Returns how many lines had no colon (left
/// out).
pub fn for_each_header(text: &str, f: &mut dyn FnMut(String, String)) -> usize {
    let (mut last, mut no_colon): (Option<(String, String)>, usize) = (None, 0);
    for line in text.lines() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = last.as_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((k, v)) = last.take() {
            f(k, v);
        }
        match line.split_once(':') {
            Some((k, v)) => last = Some((k.trim().to_ascii_lowercase(), v.trim().to_string())),
            None => no_colon += 1,
        }
    }
    if let Some((k, v)) = last {
        f(k, v);
    }
    no_colon
}

impl Metadata {
    /// Parses core metadata (`PKG-INFO`, `METADATA`): headers up to the first blank line,
    /// continuation lines folded. Unknown headers are ignored; invalid UTF-8 is replaced.
    pub fn parse_core(data: &[u8]) -> Metadata {
        let text = String::from_utf8_lossy(data);
        let mut md = Metadata::default();
        let apply = |md: &mut Metadata, (k, v): (String, String)| match k.as_str() {
            "name" => md.name = Some(v),
            "version" => md.version = Some(v),
            "summary" => md.summary = Some(v),
            "license-expression" => md.license = Some(v),
            "license" if md.license.is_none() => md.license = v.lines().next().map(str::to_string).filter(|s| !s.is_empty() && s != "UNKNOWN"),
            "requires-python" => md.requires_python = Some(v),
            "classifier" => md.classifiers.push(v),
            "project-url" => {
                if let Some((label, url)) = v.split_once(',') {
                    md.add_url(label.trim(), url.trim());
                }
            }
            "home-page" if !v.is_empty() && v != "UNKNOWN" => md.add_url("Homepage", &v),
            _ => {}
        };
        for_each_header(&text, &mut |k, v| apply(&mut md, (k, v)));
        md
    }

    fn add_url(&mut self, label: &str, url: &str) {
        if !label.is_empty() && !url.is_empty() && !self.project_urls.iter().any(|(l, _)| l == label) {
            self.project_urls.push((label.to_string(), url.to_string()));
        }
    }

    /// Parses conda's `info/index.json` (`name`, `version`, `license`). Returns `None` when it
    /// is not a JSON object.
    pub fn parse_conda_index(data: &[u8]) -> Option<Metadata> {
        let v: serde_json::Value = serde_json::from_slice(data).ok()?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        v.is_object().then(|| Metadata { name: s("name"), version: s("version"), license: s("license"), ..Metadata::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_core_metadata() {
        let md = Metadata::parse_core(
            b"Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\nSummary: A thing\nLicense: MIT\n  more\nClassifier: A\nClassifier: B\nRequires-Python: >=3.8\nHome-page: https://h.test\nProject-URL: Source, https://s.test/x\nProject-URL: Homepage, https://other.test\nProject-URL: bad\n\nName: body\n",
        );
        assert_eq!(md.name.as_deref(), Some("Foo_Bar"));
        assert_eq!(md.version.as_deref(), Some("1.0"));
        assert_eq!(md.license.as_deref(), Some("MIT"));
        assert_eq!(md.classifiers, vec!["A", "B"]);
        assert_eq!(md.requires_python.as_deref(), Some(">=3.8"));
        let urls: Vec<(&str, &str)> = md.project_urls.iter().map(|(l, u)| (l.as_str(), u.as_str())).collect();
        assert_eq!(urls, vec![("Homepage", "https://h.test"), ("Source", "https://s.test/x")]);
    }

    #[test]
    fn metadata_paths() {
        assert!(is_metadata_path(DistType::Sdist, "foo-1.0/PKG-INFO"));
        assert!(!is_metadata_path(DistType::Sdist, "foo-1.0/sub/PKG-INFO"));
        assert!(is_metadata_path(DistType::Wheel, "foo-1.0.dist-info/METADATA"));
        assert!(is_metadata_path(DistType::Egg, "EGG-INFO/PKG-INFO"));
        assert!(is_metadata_path(DistType::Conda, "info/index.json"));
        assert_eq!(Metadata::parse_conda_index(br#"{"name":"x","version":"1"}"#).and_then(|m| m.name).as_deref(), Some("x"));
        assert!(Metadata::parse_conda_index(b"[1]").is_none());
    }
}
