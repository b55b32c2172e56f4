//! The JSON API (`<root>/pypi/<project>/json`): release metadata, upload times, serials.

use crate::IndexError;
use crate::simple::{IndexFile, parse_time};
use reqwest::Url;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What the JSON API says of a project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectInfo {
    /// Project name as registered.
    pub name: String,
    /// `last_serial`, when served.
    pub last_serial: Option<u64>,
    /// Summary of the latest release.
    pub summary: Option<String>,
    /// License of the latest release.
    pub license: Option<String>,
    /// Classifiers of the latest release.
    pub classifiers: Vec<String>,
    /// Requires-Python of the latest release.
    pub requires_python: Option<String>,
    /// Project URLs.
    pub project_urls: BTreeMap<String, String>,
    /// Every file of every release, with its version and upload time.
    pub files: Vec<IndexFile>,
}

#[derive(Deserialize)]
struct Raw {
    info: RawInfo,
    #[serde(default)]
    last_serial: Option<u64>,
    #[serde(default)]
    releases: BTreeMap<String, Vec<RawFile>>,
}

#[derive(Deserialize)]
struct RawInfo {
    name: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    license_expression: Option<String>,
    #[serde(default)]
    classifiers: Vec<String>,
    #[serde(default)]
    requires_python: Option<String>,
    #[serde(default)]
    project_urls: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct RawFile {
    filename: String,
    url: String,
    #[serde(default)]
    digests: BTreeMap<String, String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    upload_time_iso_8601: Option<String>,
    #[serde(default)]
    upload_time: Option<String>,
    #[serde(default)]
    yanked: bool,
    #[serde(default)]
    yanked_reason: Option<String>,
    #[serde(default)]
    requires_python: Option<String>,
}

/// The JSON API URL of `project` for a simple-API base URL (`.../simple/` -> `.../pypi/<p>/json`).
pub fn json_api_url(index_url: &str, project: &str) -> String {
    let base = index_url.trim_end_matches('/');
    let root = base.strip_suffix("/simple").unwrap_or(base);
    format!("{root}/pypi/{project}/json")
}

/// Parses a JSON API response fetched from `url` (file URLs may be relative to it).
pub fn parse_project_json(body: &str, url: &str) -> Result<ProjectInfo, IndexError> {
    let raw: Raw = serde_json::from_str(body).map_err(|e| IndexError::Parse { url: url.into(), what: e.to_string() })?;
    let base = Url::parse(url).map_err(|e| IndexError::Parse { url: url.into(), what: e.to_string() })?;
    let mut files = Vec::new();
    for (version, list) in raw.releases {
        for f in list {
            let abs = base.join(&f.url).map_err(|e| IndexError::Parse { url: url.into(), what: format!("bad file URL {:?}: {e}", f.url) })?;
            files.push(IndexFile {
                filename: f.filename,
                url: abs.to_string(),
                sha256: f.digests.get("sha256").map(|h| h.to_ascii_lowercase()),
                requires_python: f.requires_python,
                yanked: f.yanked,
                yanked_reason: f.yanked_reason.filter(|r| !r.is_empty()),
                upload_time: f.upload_time_iso_8601.as_deref().or(f.upload_time.as_deref()).and_then(parse_time),
                size: f.size,
                version: Some(version.clone()),
            });
        }
    }
    let i = raw.info;
    Ok(ProjectInfo {
        name: i.name,
        last_serial: raw.last_serial,
        summary: i.summary.filter(|s| !s.is_empty()),
        license: i.license_expression.or(i.license).filter(|s| !s.is_empty() && s != "UNKNOWN"),
        classifiers: i.classifiers,
        requires_python: i.requires_python.filter(|s| !s.is_empty()),
        project_urls: i.project_urls.unwrap_or_default(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_parsing() {
        assert_eq!(json_api_url("https://idx.test/simple/", "foo"), "https://idx.test/pypi/foo/json");
        assert_eq!(json_api_url("https://idx.test/root", "foo"), "https://idx.test/root/pypi/foo/json");
        let body = r#"{"info":{"name":"Foo","summary":"S","license":"MIT","classifiers":["A"],"requires_python":">=3.9","project_urls":{"Home":"h"}},
            "last_serial":42,"releases":{"1.0":[{"filename":"foo-1.0.tar.gz","url":"../../files/foo-1.0.tar.gz","digests":{"sha256":"AB"},"size":3,
            "upload_time_iso_8601":"2024-05-01T00:00:00.123456Z","yanked":true,"yanked_reason":"oops"}],"0.1":[]}}"#;
        let p = parse_project_json(body, "https://idx.test/pypi/foo/json").expect("parse");
        assert_eq!((p.name.as_str(), p.last_serial, p.license.as_deref()), ("Foo", Some(42), Some("MIT")));
        assert_eq!(p.files.len(), 1);
        let f = &p.files[0];
        assert_eq!(f.url, "https://idx.test/files/foo-1.0.tar.gz");
        assert_eq!((f.sha256.as_deref(), f.version.as_deref(), f.yanked), (Some("ab"), Some("1.0"), true));
        assert_eq!(f.upload_time, parse_time("2024-05-01T00:00:00.123456Z"));
    }
}
