//! The simple repository API: PEP 503 HTML pages (with PEP 592 yanking and PEP 658/714
//! metadata attributes) and PEP 691 JSON pages. URLs are resolved against the page's own URL,
//! so relative links work.

use crate::IndexError;
use reqwest::Url;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::io::Read;

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

/// Reads a PEP 503 root page as it arrives, handing each project name to `each`: a chunk at
/// a time, cut after its last `</a>`, so memory stays flat whatever the number of projects.
pub fn read_html_root<E: From<IndexError>>(body: &mut dyn Read, url: &str, mut each: impl FnMut(String, Option<u64>) -> Result<(), E>) -> Result<(), E> {
    /// Text kept while no link ends in it; a longer anchor is no project link.
    const MAX_PENDING: usize = 1 << 20;
    let mut buf: Vec<u8> = Vec::with_capacity(2 * CHUNK);
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = body.read(&mut chunk).map_err(|e| IndexError::Network { url: url.into(), message: format!("reading the page: {e}") })?;
        buf.extend_from_slice(&chunk[..n]);
        let cut = if n == 0 { buf.len() } else { last_anchor_end(&buf).unwrap_or(0) };
        for a in anchors(&String::from_utf8_lossy(&buf[..cut])) {
            if !a.text.is_empty() {
                each(a.text, None)?;
            }
        }
        buf.drain(..cut);
        if n == 0 {
            return Ok(());
        }
        if buf.len() > MAX_PENDING {
            buf.drain(..buf.len() - CHUNK);
        }
    }
}

/// Bytes read from a page at a time.
const CHUNK: usize = 64 * 1024;

/// Where the last complete `</a>` of `html` ends.
fn last_anchor_end(html: &[u8]) -> Option<usize> {
    let mut end = html.len();
    loop {
        let close = html[..end].windows(3).rposition(|w| w[0] == b'<' && w[1] == b'/' && w[2].eq_ignore_ascii_case(&b'a'))?;
        if let Some(i) = html[close..].iter().position(|&b| b == b'>') {
            return Some(close + i + 1);
        }
        end = close;
    }
}

#[derive(Deserialize)]
struct JsonPage {
    #[serde(default)]
    files: Vec<JsonFile>,
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

/// Reads a PEP 691 root page as it arrives, handing each project (name and, when the index
/// gives it, last serial) to `each`: nothing the size of the project list is held.
pub fn read_json_root<E: From<IndexError>>(body: &mut dyn Read, url: &str, each: impl FnMut(String, Option<u64>) -> Result<(), E>) -> Result<(), E> {
    let mut stopped = None;
    let seed = RootSeed { each, stopped: &mut stopped };
    let mut de = serde_json::Deserializer::from_reader(body);
    let parsed = seed.deserialize(&mut de).and_then(|()| de.end());
    match (parsed, stopped) {
        (_, Some(e)) => Err(e),
        (Ok(()), None) => Ok(()),
        (Err(e), None) if e.is_io() => Err(IndexError::Network { url: url.into(), message: format!("reading the page: {e}") }.into()),
        (Err(e), None) => Err(IndexError::Parse { url: url.into(), what: e.to_string() }.into()),
    }
}

/// The root page's object: `projects` is visited one entry at a time, the rest skipped.
struct RootSeed<'a, F, E> {
    each: F,
    stopped: &'a mut Option<E>,
}

impl<'de, F: FnMut(String, Option<u64>) -> Result<(), E>, E> DeserializeSeed<'de> for RootSeed<'_, F, E> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(String, Option<u64>) -> Result<(), E>, E> Visitor<'de> for RootSeed<'_, F, E> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a PEP 691 root object")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "projects" {
                map.next_value_seed(ProjectsSeed { root: &mut self })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ProjectsSeed<'r, 'a, F, E> {
    root: &'r mut RootSeed<'a, F, E>,
}

impl<'de, F: FnMut(String, Option<u64>) -> Result<(), E>, E> DeserializeSeed<'de> for ProjectsSeed<'_, '_, F, E> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(String, Option<u64>) -> Result<(), E>, E> Visitor<'de> for ProjectsSeed<'_, '_, F, E> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of projects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(p) = seq.next_element::<JsonProject>()? {
            if let Err(e) = (self.root.each)(p.name, p.last_serial) {
                *self.root.stopped = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that arrives `step` bytes at a time, as a slow connection delivers it.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn json_root(body: &[u8], step: usize) -> Result<Vec<(String, Option<u64>)>, IndexError> {
        let mut out = Vec::new();
        read_json_root(&mut Trickle(body, step), "u", |n, s| {
            out.push((n, s));
            Ok::<_, IndexError>(())
        })?;
        Ok(out)
    }

    fn html_root(body: &[u8], step: usize) -> Vec<String> {
        let mut out = Vec::new();
        read_html_root(&mut Trickle(body, step), "u", |n, s| {
            assert_eq!(s, None);
            out.push(n);
            Ok::<_, IndexError>(())
        })
        .expect("html root");
        out
    }

    #[test]
    fn roots_of_many_projects_read_in_pieces() {
        let names: Vec<String> = (0..20_000).map(|i| format!("proj-{i}")).collect();
        let json = format!(
            "{{\"projects\":[{}],\"meta\":{{\"api-version\":\"1.1\"}}}}",
            names.iter().enumerate().map(|(i, n)| format!("{{\"name\":\"{n}\",\"_last-serial\":{i}}}")).collect::<Vec<_>>().join(",")
        );
        for step in [1 << 20, 4093] {
            let got = json_root(json.as_bytes(), step).expect("json root");
            assert_eq!(got.len(), names.len());
            assert!(got.iter().enumerate().all(|(i, (n, s))| *n == names[i] && *s == Some(i as u64)));
        }
        let html = format!("<html><body>\n{}</body></html>", names.iter().map(|n| format!("<A href=\"/simple/{n}/\">{n}</A >\n")).collect::<String>());
        for step in [1 << 20, 65_536, 4093, 7] {
            assert_eq!(html_root(html.as_bytes(), step), names, "step {step}");
        }
    }

    #[test]
    fn bad_roots_are_errors_and_a_caller_can_stop() {
        assert!(matches!(json_root(b"{\"projects\":[{\"name\":\"a\"},", 5), Err(IndexError::Parse { .. })));
        assert!(matches!(json_root(b"{\"projects\":{}}", 5), Err(IndexError::Parse { .. })));
        assert!(matches!(json_root(b"{\"projects\":[]} trailing", 5), Err(IndexError::Parse { .. })));
        let mut seen = 0;
        let stopped = read_json_root(&mut &br#"{"projects":[{"name":"a"},{"name":"b"},{"name":"c"}]}"#[..], "u", |_, _| {
            seen += 1;
            if seen == 2 { Err(IndexError::NoIndex("enough".into())) } else { Ok(()) }
        });
        assert!(matches!(stopped, Err(IndexError::NoIndex(m)) if m == "enough"));
        assert_eq!(seen, 2);
        // a page of megabytes with no link in it: nothing listed, memory stays bounded
        assert!(html_root(&vec![b'x'; 3 << 20], 65_536).is_empty());
        // what is dropped is only text no link ends in: links after it are still read
        let mut late = vec![b'x'; 3 << 20];
        late.extend_from_slice(b"<a href='/simple/late/'>late</a><A HREF=x>last</A>");
        assert_eq!(html_root(&late, 65_536), ["late", "last"]);
    }

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
        let root = json_root(br#"{"meta":{"_last-serial":9},"projects":[{"name":"Foo","_last-serial":7},{"name":"bar"}],"x":[1]}"#, 1).expect("root");
        assert_eq!(root, vec![("Foo".into(), Some(7)), ("bar".into(), None)]);
        assert!(parse_json_project("not json", "https://index.test/").is_err());
    }

    #[test]
    fn html_root_and_entities() {
        assert_eq!(html_root(b"<a href='/simple/a/'>A</a><a href=\"/simple/b-c/\">b&amp;c</a>", 3), vec!["A", "b&c"]);
        assert_eq!(unescape("&lt;3 &#65;&#x42; &bogus; &"), "<3 AB &bogus; &");
        assert_eq!(parse_time("2024-01-02T03:04:05"), parse_time("2024-01-02T03:04:05Z"));
    }
}
