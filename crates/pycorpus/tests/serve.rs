//! `pycorpus serve` through HTTP on 127.0.0.1: every API route with a good request, a
//! malformed one and a missing item; the same records as `grep --json`; hostile corpus
//! content shown as text; hostile requests answered with a 4xx; the search slots' 503; the
//! token.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

/// The hostile files, each in the corpus as a `.py` file.
const HOSTILE: &[(&str, &[u8])] = &[
    ("script.py", b"# <script>alert('xss-script')</script>\nx = 1\n"),
    ("img.py", b"s = '\"><img src=x onerror=alert(1)>'  # xss-img\n"),
    ("textarea.py", b"t = '</textarea><script>alert(2)</script>'  # xss-textarea\n"),
    ("latin1.py", b"name = '\xe9t\xe9'  # xss-latin1 \xff\xfe\n"),
];

/// A corpus of two projects over three releases (one shard sealed, the open one too), a file
/// shared by every release, the hostile files and a file with a 5 MiB line; analysed.
fn build() -> World {
    let w = World::new();
    w.ok(&["init"]);
    let shared = b"def frobnicate(self, value=None):\n    return value\n";
    let long = long_file();
    for (batch, releases) in [(0, [("alpha", "1.0"), ("beta", "1.0")]), (1, [("alpha", "2.0"), ("gamma", "0.1")])] {
        for (p, v) in releases {
            let top = format!("{p}-{v}");
            let mut entries = sdist_entries(p, v, "");
            entries.push(f(&format!("{top}/{p}/shared.py"), shared));
            entries.push(f(&format!("{top}/{p}/own.py"), format!("OWN = {p:?}  # unique-{p}-{v}\n").as_bytes()));
            if p == "beta" {
                for (name, data) in HOSTILE {
                    entries.push(f(&format!("{top}/{p}/{name}"), data));
                }
                entries.push(f(&format!("{top}/{p}/long.py"), &long));
            }
            w.write(&format!("{top}.tar.gz"), &tar_gz(&entries));
        }
        w.ok(&["add", w.input().to_str().unwrap()]);
        if batch == 0 {
            w.ok(&["seal"]);
        }
    }
    w.ok(&["analyze"]);
    w
}

/// A Python file of just under 5 MiB (the largest stored), nearly all of it one line, after
/// five short ones (fewer newlines would make it `text-long-lines`, not stored).
fn long_file() -> Vec<u8> {
    let mut long = b"# five short lines first\na = 1\nb = 2\nc = 3\nd = 4\n".to_vec();
    long.extend_from_slice(b"x = '");
    long.extend(std::iter::repeat_n(b'y', (5 << 20) - 1024));
    long.extend_from_slice(b"' # longline-marker\n");
    long
}

/// A running server, stopped when dropped.
struct Server {
    child: Child,
    url: String,
    http: reqwest::blocking::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn serve(w: &World, extra: &[&str]) -> Server {
    let started = std::time::Instant::now();
    let mut child = w.cmd().args(["serve", "--bind", "127.0.0.1:0"]).args(extra).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line:?}");
    // Nothing is loaded at start: it listens at once (a debug build, on a loaded machine).
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
    Server { child, url: line.trim().trim_end_matches('/').to_string(), http: client() }
}

impl Server {
    fn get(&self, path: &str) -> reqwest::blocking::Response {
        self.http.get(format!("{}{path}", self.url)).send().unwrap()
    }
    /// Status and body of `path`.
    fn text(&self, path: &str) -> (u16, String) {
        let r = self.get(path);
        let status = r.status().as_u16();
        (status, r.text().unwrap())
    }
    fn json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{path}: {:?}", r.headers());
        (r.status().as_u16(), r.json().unwrap())
    }
}

#[test]
fn api_routes_answer_good_malformed_and_missing_requests() {
    let w = build();
    let s = serve(&w, &[]);

    // search: the records of `grep --json`
    let (status, v) = s.json("/api/search?q=frobnicate&ext=py");
    assert_eq!(status, 200, "{v}");
    let cli: Vec<Value> = w.ok(&["grep", "--json", "frobnicate", "--ext", "py"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(v["matches"].as_array().unwrap(), &cli);
    assert_eq!(v["truncated"], false);
    assert_eq!(cli[0]["other_paths"], 3, "{cli:?}"); // one blob, in four releases
    let (status, v) = s.json("/api/search?q=RETURN+VALUE&ignore_case=1&fixed=1&word=1&project=alpha");
    assert_eq!((status, v["matches"][0]["project"].as_str()), (200, Some("alpha")), "{v}");
    let (status, v) = s.json("/api/search?q=def+f&limit=1");
    assert_eq!((status, v["matches"].as_array().unwrap().len(), &v["truncated"]), (200, 1, &Value::Bool(true)), "{v}");
    let (status, v) = s.json("/api/search?q=no-such-text-anywhere");
    assert_eq!((status, v["matches"].as_array().unwrap().len()), (200, 0));
    for bad in ["/api/search?q=(", "/api/search?q=", "/api/search?q=x&since=yesterday", "/api/search?q=x&bogus=1", "/api/search?q=x&limit=-1", "/api/search?q=x&fixed=maybe"] {
        let (status, v) = s.json(bad);
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{bad}: {v}");
    }

    // the search page's stream: JSON lines, an HTML fragment per blob, then the summary
    let r = s.get("/search/results?q=frobnicate&ext=py");
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "application/x-ndjson; charset=utf-8"));
    let lines: Vec<Value> = r.text().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0]["html"].as_str().unwrap().contains("<mark>frobnicate</mark>"));
    assert_eq!(lines[1]["done"]["blobs"], 1);
    assert_eq!(s.json("/search/results?q=(").0, 400);
    assert_eq!(s.json("/search/results?q=x&limit=x").0, 400);

    // projects and releases
    let (status, v) = s.json("/api/project/Alpha");
    assert_eq!((status, v["project"].as_str(), v["releases"].as_array().unwrap().len()), (200, Some("alpha"), 2), "{v}");
    assert_eq!(s.json("/api/project/no-such-project").0, 404);
    assert_eq!(s.json("/api/project/a%20b").0, 400);
    let (status, v) = s.json("/api/project/beta/beta-1.0.tar.gz");
    assert_eq!(status, 200, "{v}");
    let paths: Vec<&str> = v["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert!(paths.iter().any(|p| p.ends_with("beta/script.py")), "{paths:?}");
    assert_eq!(v["files"][0]["project_name"], "beta");
    assert_eq!(s.json("/api/project/beta/beta-9.tar.gz").0, 404);
    assert_eq!(s.json("/api/project/..%2F..%2Fetc/passwd").0, 400);

    // blobs
    let oid = cli[0]["oid"].as_str().unwrap();
    let r = s.get(&format!("/api/blob/{oid}"));
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
    assert_eq!(r.bytes().unwrap().as_ref(), b"def frobnicate(self, value=None):\n    return value\n");
    let (status, v) = s.json(&format!("/api/blob/{oid}/files"));
    assert_eq!((status, v["total"].as_u64()), (200, Some(4)), "{v}");
    assert_eq!(s.json("/api/blob/not-an-oid").0, 400);
    assert_eq!(s.json("/api/blob/not-an-oid/files").0, 400);
    assert_eq!(s.json("/api/blob/0123456789012345678901234567890123456789").0, 404);
    assert_eq!(s.json("/api/blob/0123456789012345678901234567890123456789/files").0, 404);

    // statistics
    let (status, v) = s.json("/api/stats");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["totals"]["projects"], 3, "{v}");
    assert!(v["tables"].as_array().is_some_and(|t| !t.is_empty()));
    let (status, v) = s.json("/api/stats?project=beta");
    assert_eq!((status, &v["totals"]["projects"]), (200, &Value::from(1)), "{v}");
    assert_eq!(s.json("/api/stats?project=no-such-project").0, 404);
    assert_eq!(s.json("/api/stats?project=a*b").0, 400);
    assert_eq!(s.json("/api/stats?bogus=1").0, 400);
    assert_eq!(s.get("/stats/chart/no-such-chart.svg").status().as_u16(), 404);
    assert_eq!(s.get("/stats/chart/x.svg?project=a%20b").status().as_u16(), 400);
    assert_eq!(s.get("/stats/chart/x.svg?project=no-such-project").status().as_u16(), 404);
    assert_eq!(s.get("/stats/chart/typing").status().as_u16(), 404);
}

#[test]
fn pages_show_hostile_content_as_text() {
    let w = build();
    let s = serve(&w, &[]);
    for (_, data) in HOSTILE {
        let marker = String::from_utf8_lossy(data);
        let marker = marker.split("xss-").nth(1).unwrap().split_whitespace().next().unwrap();
        let (status, page) = s.text(&format!("/search?q=xss-{marker}&fixed=1"));
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("class=\"blob\""), "no result for {marker}: {page}");
        for raw in ["<script>alert", "<img src=x", "</textarea>"] {
            assert!(!page.contains(raw), "{raw} unescaped in the results for {marker}");
        }
        // the file view too
        let oid = page.split("data-oid=\"").nth(1).unwrap().split('"').next().unwrap();
        let r = s.get(&format!("/blob/{oid}"));
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
        let page = r.text().unwrap();
        for raw in ["<script>alert", "<img src=x", "</textarea>"] {
            assert!(!page.contains(raw), "{raw} unescaped in the file view for {marker}");
        }
        assert!(page.contains("id=\"L1\""), "{page}");
    }
    // invalid UTF-8 is shown with replacement characters
    let (_, page) = s.text("/search?q=xss-latin1&fixed=1");
    assert!(page.contains('\u{fffd}'), "{page}");

    // a 5 MiB line: found, shown cut around the match, the file view bounded
    let (status, page) = s.text("/search?q=longline-marker&fixed=1");
    assert_eq!(status, 200);
    assert!(page.contains("<mark>longline-marker</mark>") && page.len() < 64 << 10, "{}", page.len());
    let oid = page.split("data-oid=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let (status, page) = s.text(&format!("/blob/{oid}"));
    assert_eq!(status, 200);
    assert!(page.len() < (2 << 20) + (64 << 10) && page.contains("Only the first 2 MiB"), "{}", page.len());
    assert_eq!(s.get(&format!("/api/blob/{oid}")).bytes().unwrap().as_ref(), long_file().as_slice());

    // browse pages, without any script
    for (path, needle) in [("/project/beta", "beta-1.0.tar.gz"), ("/project/beta/beta-1.0.tar.gz", "script.py"), ("/stats", "<img src=\"/stats/chart/"), ("/", "Unique blobs")] {
        let (status, page) = s.text(path);
        assert_eq!(status, 200, "{path}: {page}");
        assert!(page.contains(needle), "{path}: {page}");
        assert!(!page.contains("<script>") && !page.contains(" style="), "{path}: inline script or style");
    }
    let chart = s.text("/stats").1.split("<img src=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&").to_string();
    let r = s.get(&chart);
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "image/svg+xml"));
    assert!(r.text().unwrap().starts_with("<svg"));
    for (path, status) in [("/project/nope", 404), ("/project/%3Cscript%3E", 400), ("/blob/xyz", 400), ("/search?q=(", 400), ("/nowhere", 404), ("/static/..%2F..%2FCargo.toml", 404)] {
        let (got, page) = s.text(path);
        assert_eq!(got, status, "{path}");
        assert!(page.contains("class=\"error\"") && !page.contains("<script>"), "{path}: {page}");
    }
    // a hostile query comes back escaped in the page
    let (status, page) = s.text("/search?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(status, 200);
    assert!(!page.contains("<script>alert(1)"), "{page}");
    // a huge query is refused, not searched
    let (status, _) = s.text(&format!("/search?q={}", "a".repeat(5000)));
    assert_eq!(status, 400);
}

#[test]
fn searches_beyond_the_slots_get_503_and_the_token_is_required() {
    let w = build();
    // one search at a time, each a full scan (no trigram to use) of every blob, the 5 MiB too
    let s = serve(&w, &["--max-searches", "1"]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let results: Vec<(u16, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (b, url) = (barrier.clone(), s.url.clone());
                scope.spawn(move || {
                    let http = client();
                    b.wait();
                    let r = http.get(format!("{url}/api/search?q=%5Cw%2Bz%5Cd")).send().unwrap();
                    (r.status().as_u16(), r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|(s, _)| *s == 200 || *s == 503), "{results:?}");
    assert!(results.iter().any(|(s, _)| *s == 503), "{results:?}");
    assert!(results.iter().filter(|(s, _)| *s == 503).all(|(_, r)| r.as_deref() == Some("1")), "{results:?}");
    drop(s);

    // anything but loopback needs a token
    let o = w.run(&["serve", "--bind", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--token"), "{}", String::from_utf8_lossy(&o.stderr));
    let s = serve(&w, &["--token", "s3cret"]);
    assert_eq!(s.get("/api/project/alpha").status().as_u16(), 401);
    assert_eq!(s.get("/api/project/alpha?token=wrong").status().as_u16(), 401);
    let r = s.http.get(format!("{}/api/project/alpha", s.url)).bearer_auth("s3cret").send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = s.get("/project/alpha?token=s3cret");
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let r = s.http.get(format!("{}/stats", s.url)).header("cookie", cookie).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// A client that stops reading holds its search slot (the search waits on it, bounded, not
/// piling results up); once it goes away the search ends and the slot is free again.
#[test]
fn a_search_whose_client_goes_away_frees_its_slot() {
    let w = World::new();
    w.ok(&["init"]);
    // 8,000 unique files that all match, with long lines: ~15 MB of results, far more than
    // the sockets' buffers hold
    let mut entries = sdist_entries("many", "1.0", "");
    let long = "p".repeat(380);
    for i in 0..8000 {
        entries.push(f(&format!("many-1.0/many/m{i}.py"), format!("# {long}\n# needle {i} {long}\n# {long}\n").as_bytes()));
    }
    w.write("many-1.0.tar.gz", &tar_gz(&entries));
    w.ok(&["add", w.input().to_str().unwrap()]);
    w.ok(&["seal"]);
    let s = serve(&w, &["--max-searches", "1", "--search-seconds", "600"]);
    // ~9 MB of lines with their context: the answer stops at its 8 MiB of text, and says so
    let (status, v) = s.json("/api/search?q=needle&limit=10000&context=1");
    assert_eq!((status, &v["truncated"], &v["summary"]["why"]), (200, &Value::Bool(true), &Value::from("size")), "{}", v["summary"]);
    let blobs = v["summary"]["blobs"].as_u64().unwrap();
    assert!(blobs > 5000 && blobs < 8000 && v["matches"].as_array().unwrap().len() as u64 == 3 * blobs, "{}", v["summary"]);
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::Write;
    write!(stalled, "GET /search/results?q=needle&limit=10000 HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    // its search runs until the socket is full, then waits: the one slot stays taken
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut busy = false;
    while std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
        if s.get("/api/search?q=needle+1&limit=1").status().as_u16() == 503 {
            busy = true;
            break;
        }
    }
    assert!(busy, "the stalled client's search should hold the only slot");
    // still held a second later: it waits, it does not end on its own
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(s.get("/api/search?q=needle+1&limit=1").status().as_u16(), 503);
    drop(stalled);
    wait_for_slot(&s, "after the client left");
    drop(s);

    // a client that stays but reads nothing holds its slot no longer than a search may run
    let s = serve(&w, &["--max-searches", "1", "--search-seconds", "1"]);
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    write!(stalled, "GET /search/results?q=needle&limit=10000 HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    wait_for_slot(&s, "with the client still there, past the time budget");
    drop(stalled);
}

/// Waits (up to 20 s) until a search gets a slot.
fn wait_for_slot(s: &Server, when: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let status = s.get("/api/search?q=needle+1&limit=1").status().as_u16();
        if status == 200 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the slot was not freed {when} ({status})");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
