//! Core metadata (`PKG-INFO`, `METADATA`), every field of metadata versions 1.0 to 2.4: an
//! RFC 822-style block of headers up to the first blank line (the description after it is
//! not kept), continuation lines folded into the header before them.

use crate::{Problem, cut, limits};

/// The fields of a core metadata file. Single-valued fields keep their last value;
/// multi-valued ones every value in order (at most `limits::VALUES` each).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoreMetadata {
    /// `Metadata-Version`.
    pub metadata_version: Option<String>,
    /// `Name`, as written.
    pub name: Option<String>,
    /// `Version`.
    pub version: Option<String>,
    /// `Dynamic` (2.2).
    pub dynamic: Vec<String>,
    /// `Platform`.
    pub platforms: Vec<String>,
    /// `Supported-Platform` (1.1).
    pub supported_platforms: Vec<String>,
    /// `Summary`.
    pub summary: Option<String>,
    /// `Description-Content-Type` (2.1).
    pub description_content_type: Option<String>,
    /// `Keywords`.
    pub keywords: Option<String>,
    /// `Home-page`.
    pub home_page: Option<String>,
    /// `Download-URL` (1.1).
    pub download_url: Option<String>,
    /// `Author`.
    pub author: Option<String>,
    /// `Author-email`.
    pub author_email: Option<String>,
    /// `Maintainer` (1.2).
    pub maintainer: Option<String>,
    /// `Maintainer-email` (1.2).
    pub maintainer_email: Option<String>,
    /// `License`.
    pub license: Option<String>,
    /// `License-Expression` (2.4).
    pub license_expression: Option<String>,
    /// `License-File` (2.4).
    pub license_files: Vec<String>,
    /// `Classifier` (1.1).
    pub classifiers: Vec<String>,
    /// `Requires-Dist` (1.2), as written.
    pub requires_dist: Vec<String>,
    /// `Requires-Python` (1.2).
    pub requires_python: Option<String>,
    /// `Requires-External` (1.2).
    pub requires_external: Vec<String>,
    /// `Project-URL` (1.2), as written (`label, URL`).
    pub project_urls: Vec<String>,
    /// `Provides-Extra` (2.1).
    pub provides_extra: Vec<String>,
    /// `Provides-Dist` (1.2).
    pub provides_dist: Vec<String>,
    /// `Obsoletes-Dist` (1.2).
    pub obsoletes_dist: Vec<String>,
    /// `Requires` (1.1, deprecated).
    pub requires: Vec<String>,
    /// `Provides` (1.1, deprecated).
    pub provides: Vec<String>,
    /// `Obsoletes` (1.1, deprecated).
    pub obsoletes: Vec<String>,
}

/// Parses a core metadata file; what could not be read is said in the problems (a header
/// without a colon, invalid UTF-8, values past the limits), and the rest is kept.
pub fn parse_core(data: &[u8]) -> (CoreMetadata, Vec<Problem>) {
    let mut problems = Vec::new();
    let data = match data.len() > limits::FILE_BYTES {
        true => {
            problems.push(format!("{} bytes: only the first {} read", data.len(), limits::FILE_BYTES));
            &data[..limits::FILE_BYTES]
        }
        false => data,
    };
    let text = String::from_utf8_lossy(data);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        problems.push("not UTF-8: invalid bytes replaced".into());
    }
    let mut md = CoreMetadata::default();
    let mut full = std::collections::BTreeSet::new();
    let no_colon = pycorpus_archive::for_each_header(&text, &mut |k, v| set(&mut md, (k, v), &mut problems, &mut full));
    if no_colon > 0 {
        problems.push(format!("{no_colon} header line(s) without a colon left out"));
    }
    (md, problems)
}

/// Sets one header's value; `full`: the multi-valued fields that reached their limit.
fn set(md: &mut CoreMetadata, (key, value): (String, String), problems: &mut Vec<Problem>, full: &mut std::collections::BTreeSet<String>) {
    // a requirement keeps its whole text (the file's size bounds it): its row says it was cut
    let (v, was_cut) = if key == "requires-dist" { (value.as_str(), false) } else { cut(&value) };
    if was_cut {
        problems.push(format!("{key}: a value of {} bytes cut to {}", value.len(), v.len()));
    }
    let v = v.to_string();
    let one = |slot: &mut Option<String>| *slot = Some(v.clone());
    let mut many = |list: &mut Vec<String>, problems: &mut Vec<Problem>| {
        if list.len() < limits::VALUES {
            list.push(v.clone());
        } else if full.insert(key.clone()) {
            problems.push(format!("{key}: more than {} values, the rest left out", limits::VALUES));
        }
    };
    match key.as_str() {
        "metadata-version" => one(&mut md.metadata_version),
        "name" => one(&mut md.name),
        "version" => one(&mut md.version),
        "dynamic" => many(&mut md.dynamic, problems),
        "platform" => many(&mut md.platforms, problems),
        "supported-platform" => many(&mut md.supported_platforms, problems),
        "summary" => one(&mut md.summary),
        "description-content-type" => one(&mut md.description_content_type),
        "keywords" => one(&mut md.keywords),
        "home-page" => one(&mut md.home_page),
        "download-url" => one(&mut md.download_url),
        "author" => one(&mut md.author),
        "author-email" => one(&mut md.author_email),
        "maintainer" => one(&mut md.maintainer),
        "maintainer-email" => one(&mut md.maintainer_email),
        "license" => one(&mut md.license),
        "license-expression" => one(&mut md.license_expression),
        "license-file" => many(&mut md.license_files, problems),
        "classifier" => many(&mut md.classifiers, problems),
        "requires-dist" => many(&mut md.requires_dist, problems),
        "requires-python" => one(&mut md.requires_python),
        "requires-external" => many(&mut md.requires_external, problems),
        "project-url" => many(&mut md.project_urls, problems),
        "provides-extra" => many(&mut md.provides_extra, problems),
        "provides-dist" => many(&mut md.provides_dist, problems),
        "obsoletes-dist" => many(&mut md.obsoletes_dist, problems),
        "requires" => many(&mut md.requires, problems),
        "provides" => many(&mut md.provides, problems),
        "obsoletes" => many(&mut md.obsoletes, problems),
        _ => {} // Description (1.0's header form) and unknown headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const METADATA: &str = "Metadata-Version: 2.4\nName: Demo.Pkg\nVersion: 1.0\nDynamic: Requires-Dist\nSummary: A demo\nLicense-Expression: MIT OR Apache-2.0\nLicense-File: LICENSE\nLicense-File: NOTICE\nClassifier: A :: B\nRequires-Dist: requests>=2\nRequires-Dist: pytest; extra == \"test\"\nRequires-Python: >=3.9\nRequires-External: libpq\nProject-URL: Source, https://example.invalid/src\nProvides-Extra: test\nKeywords: a,b\nAuthor-email: A <a@example.invalid>\nLicense: line one\n        line two\n\nThe description: Name: not a header\n";

    #[test]
    fn every_field_is_read_and_the_description_is_not() {
        let (md, problems) = parse_core(METADATA.as_bytes());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(md.metadata_version.as_deref(), Some("2.4"));
        assert_eq!(md.name.as_deref(), Some("Demo.Pkg"));
        assert_eq!(md.dynamic, vec!["Requires-Dist"]);
        assert_eq!(md.license_expression.as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(md.license_files, vec!["LICENSE", "NOTICE"]);
        assert_eq!(md.requires_dist, vec!["requests>=2", "pytest; extra == \"test\""]);
        assert_eq!((md.requires_python.as_deref(), md.requires_external.len(), md.provides_extra.len()), (Some(">=3.9"), 1, 1));
        assert_eq!(md.license.as_deref(), Some("line one\nline two"));
        assert_eq!(md.project_urls, vec!["Source, https://example.invalid/src"]);
    }

    #[test]
    fn hostile_files_are_read_as_far_as_they_go() {
        // a header without a colon, invalid UTF-8
        let (md, problems) = parse_core(b"Name: x\nno colon here\nSummary: caf\xe9\n");
        assert_eq!((md.name.as_deref(), md.summary.as_deref()), (Some("x"), Some("caf\u{fffd}")));
        assert_eq!(problems.len(), 2, "{problems:?}");
        // 100,000 Requires-Dist lines: the first 10,000 kept, and said once
        let many: String = (0..100_000).map(|i| format!("Requires-Dist: p{i}\n")).collect();
        let (md, problems) = parse_core(format!("Name: many\n{many}").as_bytes());
        assert_eq!((md.requires_dist.len(), md.requires_dist[9_999].as_str()), (limits::VALUES, "p9999"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        // a file larger than the limit, and a value of a megabyte
        let big = format!("Name: big\nSummary: {}\n", "s".repeat(1 << 20)).repeat(20);
        let (md, problems) = parse_core(big.as_bytes());
        assert!(md.summary.is_some_and(|s| s.len() <= limits::VALUE_BYTES));
        assert!(problems.iter().any(|p| p.contains("only the first")) && problems.iter().any(|p| p.contains("cut")), "{problems:?}");
    }
}
