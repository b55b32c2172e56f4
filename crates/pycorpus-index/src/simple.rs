//! The simple repository API: PEP 503 HTML pages (with PEP 592 yanking and PEP 658/714
//! metadata attributes) and PEP 691 JSON pages. URLs are resolved against the page's own URL,
//! so relative links work.

use crate::IndexError;
use reqwest::Url;
use serde::{Deserialize, Serialize};

/// One distribution file as an index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFile {
    /// File name.
    pub filename: String,
    /// Absolute URL (fragment removed).
    pub url: String,
    /// sha256 from the URL fragment or the `hashes` object, when given.
    pub sha256: Option<String>,
    /// `Requires-Python`, when given.
    pub requires_python: Option<String>,
    /// PEP 592: yanked files are listed but skipped unless asked for.
    pub yanked: bool,
    /// The yank reason, when given.
    pub yanked_reason: Option<String>,
    /// Upload time in µs since the epoch (PEP 700 JSON, or the JSON API).
    pub upload_time: Option<i64>,
    /// Size in bytes, when given.
    pub size: Option<u64>,
    /// The version, when the source says it (JSON API); else parsed from the file name.
    pub version: Option<String>,
}

/// Media type of PEP 691 JSON pages.
pub const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
/// The `Accept` header we send: JSON when offered, else HTML.
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1";

fn resolve(base: &Url, href: &str) -> Result<Url, IndexError> {
    base.join(href).map_err(|e| IndexError::Parse { url: base.to_string(), what: format!("bad link {href:?}: {e}") })
}

/// Splits `#sha256=...` off a URL.
fn split_hash(mut url: Url) -> (String, Option<String>) {
    let sha = url.fragment().and_then(|f| f.strip_prefix("sha256=")).map(|h| h.to_ascii_lowercase());
    url.set_fragment(None);
    (url.to_string(), sha)
}

/// Decodes the HTML entities that index pages use.
pub fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let ent = &rest[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") || ent.starts_with("#X") => u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32),
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One `<a ...>text</a>`: its attributes (names lower-cased) and text.
struct Anchor {
    attrs: Vec<(String, Option<String>)>,
    text: String,
}

impl Anchor {
    fn get(&self, name: &str) -> Option<Option<&str>> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_deref())
    }
}

/// Finds the anchors of an HTML page. Tolerant: unquoted and single-quoted attributes, any
/// case, attributes without values (`data-yanked`).
fn anchors(html: &str) -> Vec<Anchor> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(i) = lower[pos..].find("<a") {
        let start = pos + i + 2;
        if !lower[start..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>') {
            pos = start;
            continue;
        }
        let bytes = html.as_bytes();
        let mut j = start;
        let mut attrs = Vec::new();
        loop {
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if j >= bytes.len() || bytes[j] == b'>' {
                break;
            }
            if bytes[j] == b'/' {
                j += 1;
                continue;
            }
            let k0 = j;
            while j < bytes.len() && !bytes[j].is_ascii_whitespace() && bytes[j] != b'=' && bytes[j] != b'>' {
                j += 1;
            }
            let key = html[k0..j].to_ascii_lowercase();
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            let mut value = None;
            if j < bytes.len() && bytes[j] == b'=' {
                j += 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') {
                    let q = bytes[j];
                    let v0 = j + 1;
                    j = v0;
                    while j < bytes.len() && bytes[j] != q {
                        j += 1;
                    }
                    value = Some(unescape(&html[v0..j.min(bytes.len())]));
                    j += 1;
                } else {
                    let v0 = j;
                    while j < bytes.len() && !bytes[j].is_ascii_whitespace() && bytes[j] != b'>' {
                        j += 1;
                    }
                    value = Some(unescape(&html[v0..j]));
                }
            }
            if !key.is_empty() {
                attrs.push((key, value));
            }
        }
        let text_start = (j + 1).min(html.len());
        let text_end = lower[text_start..].find("</a").map_or(html.len(), |e| text_start + e);
        out.push(Anchor { attrs, text: unescape(html[text_start..text_end].trim()) });
        pos = text_end;
    }
    out
}

/// Parses a PEP 503 project page at `page_url`.
pub fn parse_html_project(html: &str, page_url: &str) -> Result<Vec<IndexFile>, IndexError> {
    let base = Url::parse(page_url).map_err(|e| IndexError::Parse { url: page_url.into(), what: e.to_string() })?;
    let mut files = Vec::new();
    for a in anchors(html) {
        let Some(Some(href)) = a.get("href") else { continue };
        let (url, sha256) = split_hash(resolve(&base, href)?);
        let filename = if a.text.is_empty() { url.rsplit('/').next().unwrap_or_default().to_string() } else { a.text.clone() };
        let yanked = a.get("data-yanked");
        files.push(IndexFile {
            filename,
            url,
            sha256,
            requires_python: a.get("data-requires-python").flatten().map(str::to_string),
            yanked: yanked.is_some(),
            yanked_reason: yanked.flatten().filter(|r| !r.is_empty()).map(str::to_string),
            upload_time: None,
            size: None,
            version: None,
        });
    }
    Ok(files)
}

/// Parses a PEP 503 root page: the project names.
pub fn parse_html_root(html: &str) -> Vec<String> {
    anchors(html).into_iter().map(|a| a.text).filter(|t| !t.is_empty()).collect()
}

#[derive(Deserialize)]
struct JsonPage {
    #[serde(default)]
    files: Vec<JsonFile>,
    #[serde(default)]
    projects: Vec<JsonProject>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(rename = "requires-python", default)]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: serde_json::Value,
    #[serde(rename = "upload-time", default)]
    upload_time: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct JsonProject {
    name: String,
    #[serde(rename = "_last-serial", default)]
    last_serial: Option<u64>,
}

/// Parses an RFC 3339 time into µs since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>().ok().map(|t| t.as_microsecond()).or_else(|| {
        // the JSON API's `upload_time` has no zone: it is UTC
        s.parse::<jiff::civil::DateTime>().ok()?.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_microsecond())
    })
}

fn yanked(v: &serde_json::Value) -> (bool, Option<String>) {
    match v {
        serde_json::Value::Bool(b) => (*b, None),
        serde_json::Value::String(s) => (true, Some(s.clone()).filter(|s| !s.is_empty())),
        _ => (false, None),
    }
}

/// Parses a PEP 691 project page at `page_url`.
pub fn parse_json_project(body: &str, page_url: &str) -> Result<Vec<IndexFile>, IndexError> {
    let base = Url::parse(page_url).map_err(|e| IndexError::Parse { url: page_url.into(), what: e.to_string() })?;
    let page: JsonPage = serde_json::from_str(body).map_err(|e| IndexError::Parse { url: page_url.into(), what: e.to_string() })?;
    page.files
        .into_iter()
        .map(|f| {
            let (url, frag) = split_hash(resolve(&base, &f.url)?);
            let (y, reason) = yanked(&f.yanked);
            Ok(IndexFile {
                filename: f.filename,
                url,
                sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()).or(frag),
                requires_python: f.requires_python,
                yanked: y,
                yanked_reason: reason,
                upload_time: f.upload_time.as_deref().and_then(parse_time),
                size: f.size,
                version: None,
            })
        })
        .collect()
}

/// Parses a PEP 691 root page: names and, when the index gives them, last serials.
pub fn parse_json_root(body: &str, url: &str) -> Result<Vec<(String, Option<u64>)>, IndexError> {
    let page: JsonPage = serde_json::from_str(body).map_err(|e| IndexError::Parse { url: url.into(), what: e.to_string() })?;
    Ok(page.projects.into_iter().map(|p| (p.name, p.last_serial)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_project_page() {
        let html = r#"<!DOCTYPE html><html><body>
<a href="../../packages/ab/cd/foo-1.0.tar.gz#sha256=ABCDEF" data-requires-python="&gt;=3.8">foo-1.0.tar.gz</a><br/>
<A HREF='https://files.test/foo-1.1-py3-none-any.whl#sha256=0123' data-yanked="broken build">foo-1.1-py3-none-any.whl</A>
<a href=/x/foo-0.9.zip data-yanked>foo-0.9.zip</a>
<a name="no-href">nothing</a>
</body></html>"#;
        let f = parse_html_project(html, "https://index.test/simple/foo/").expect("parse");
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].url, "https://index.test/packages/ab/cd/foo-1.0.tar.gz");
        assert_eq!(f[0].sha256.as_deref(), Some("abcdef"));
        assert_eq!(f[0].requires_python.as_deref(), Some(">=3.8"));
        assert!(!f[0].yanked);
        assert_eq!(f[1].url, "https://files.test/foo-1.1-py3-none-any.whl");
        assert!(f[1].yanked);
        assert_eq!(f[1].yanked_reason.as_deref(), Some("broken build"));
        assert_eq!(f[2].url, "https://index.test/x/foo-0.9.zip");
        assert!(f[2].yanked && f[2].yanked_reason.is_none());
    }

    #[test]
    fn json_pages() {
        let body = r#"{"meta":{"api-version":"1.1"},"name":"foo","files":[
            {"filename":"foo-1.0.tar.gz","url":"/files/foo-1.0.tar.gz","hashes":{"sha256":"AA"},"upload-time":"2024-01-02T03:04:05.000006Z","size":10,"yanked":false},
            {"filename":"foo-1.1.tar.gz","url":"https://cdn.test/foo-1.1.tar.gz","hashes":{},"yanked":"bad"}]}"#;
        let f = parse_json_project(body, "https://index.test/simple/foo/").expect("parse");
        assert_eq!(f[0].url, "https://index.test/files/foo-1.0.tar.gz");
        assert_eq!(f[0].sha256.as_deref(), Some("aa"));
        assert_eq!(f[0].upload_time, parse_time("2024-01-02T03:04:05.000006Z"));
        assert_eq!(f[0].size, Some(10));
        assert!(f[1].yanked && f[1].yanked_reason.as_deref() == Some("bad"));
        let root = parse_json_root(r#"{"projects":[{"name":"Foo","_last-serial":7},{"name":"bar"}]}"#, "u").expect("root");
        assert_eq!(root, vec![("Foo".into(), Some(7)), ("bar".into(), None)]);
        assert!(parse_json_project("not json", "https://index.test/").is_err());
    }

    #[test]
    fn html_root_and_entities() {
        assert_eq!(parse_html_root("<a href='/simple/a/'>A</a><a href=\"/simple/b-c/\">b&amp;c</a>"), vec!["A", "b&c"]);
        assert_eq!(unescape("&lt;3 &#65;&#x42; &bogus; &"), "<3 AB &bogus; &");
        assert_eq!(parse_time("2024-01-02T03:04:05"), parse_time("2024-01-02T03:04:05Z"));
    }
}
