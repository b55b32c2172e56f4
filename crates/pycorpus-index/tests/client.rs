//! The index client against a fake index on 127.0.0.1: every network fault sync must survive.
#![allow(clippy::unwrap_used)] // tests panic on purpose

use pycorpus_index::{Client, ClientOptions, IndexError, simple};
use pycorpus_testkit::{Fault, IndexServer, Route};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

fn client() -> Client {
    Client::new(ClientOptions { timeout: Duration::from_secs(1), connect_timeout: Duration::from_secs(1), retries: 3, backoff: Duration::from_millis(10), max_backoff: Duration::from_secs(5) })
        .expect("client")
}

fn payload() -> Vec<u8> {
    (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect()
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[test]
fn pages_follow_redirects_and_resolve_relative_links() {
    let s = IndexServer::start();
    s.route("/simple/foo/", Route::new("<a href=\"../../files/foo-1.0.tar.gz#sha256=aa\">foo-1.0.tar.gz</a>", "text/html"));
    s.redirect("/simple/Foo/", "/simple/foo/");
    let page = client().get(&s.url("/simple/Foo/"), simple::ACCEPT).expect("page");
    assert_eq!(page.url, s.url("/simple/foo/"));
    let files = simple::parse_html_project(&page.body, &page.url).expect("parse");
    assert_eq!(files[0].url, s.url("/files/foo-1.0.tar.gz"));
    let e = client().get(&s.url("/simple/missing/"), simple::ACCEPT).expect_err("404");
    assert!(e.is_not_found(), "{e}");
}

#[test]
fn server_errors_then_success() {
    let s = IndexServer::start();
    let data = payload();
    s.route("/f.whl", Route::new(data.clone(), "application/octet-stream").with_faults(vec![Fault::Status(500, None), Fault::Status(503, None)]));
    let dir = tempfile::tempdir().expect("tmp");
    let d = client().download(&s.url("/f.whl"), &dir.path().join("f.whl"), Some(&sha(&data)), &|_| {}).expect("download");
    assert_eq!((d.bytes, d.attempts), (data.len() as u64, 3));
    assert_eq!(std::fs::read(dir.path().join("f.whl")).expect("read"), data);
    assert_eq!(s.hits("/f.whl"), 3);
}

#[test]
fn too_many_requests_honours_retry_after() {
    let s = IndexServer::start();
    s.route("/p", Route::new("ok", "text/html").with_faults(vec![Fault::Status(429, Some(1))]));
    let t = Instant::now();
    let page = client().get(&s.url("/p"), "text/html").expect("page");
    assert_eq!(page.body, "ok");
    assert!(t.elapsed() >= Duration::from_millis(950), "waited {:?}", t.elapsed());
}

#[test]
fn truncated_body_resumes_with_range() {
    let s = IndexServer::start();
    let data = payload();
    s.route("/f.tar.gz", Route::new(data.clone(), "application/octet-stream").with_faults(vec![Fault::Truncate(500_000)]));
    let dir = tempfile::tempdir().expect("tmp");
    let d = client().download(&s.url("/f.tar.gz"), &dir.path().join("f.tar.gz"), Some(&sha(&data)), &|_| {}).expect("download");
    assert_eq!(d.resumed_from, 500_000);
    assert_eq!(s.ranges(), vec![("/f.tar.gz".to_string(), "bytes=500000-".to_string())]);
    assert_eq!(std::fs::read(dir.path().join("f.tar.gz")).expect("read"), data);
    assert!(!dir.path().join("f.tar.gz.part").exists());
}

#[test]
fn a_partial_file_from_a_killed_run_is_resumed() {
    let s = IndexServer::start();
    let data = payload();
    s.route("/f.zip", Route::new(data.clone(), "application/octet-stream"));
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("f.zip.part"), &data[..123_456]).expect("write");
    let d = client().download(&s.url("/f.zip"), &dir.path().join("f.zip"), Some(&sha(&data)), &|_| {}).expect("download");
    assert_eq!((d.resumed_from, d.attempts), (123_456, 1));
    assert_eq!(std::fs::read(dir.path().join("f.zip")).expect("read"), data);
}

#[test]
fn wrong_sha256_is_retried_once_then_fails_and_leaves_nothing() {
    let s = IndexServer::start();
    s.route("/f.whl", Route::new(payload(), "application/octet-stream"));
    let dir = tempfile::tempdir().expect("tmp");
    let e = client().download(&s.url("/f.whl"), &dir.path().join("f.whl"), Some(&"0".repeat(64)), &|_| {}).expect_err("mismatch");
    assert!(matches!(e, IndexError::HashMismatch { .. }), "{e}");
    assert_eq!(s.hits("/f.whl"), 2);
    assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0, "no file, no partial file");
}

#[test]
fn stalled_connection_times_out_and_retries() {
    let s = IndexServer::start();
    s.route("/p", Route::new("ok", "text/html").with_faults(vec![Fault::Stall(Duration::from_secs(5))]));
    let t = Instant::now();
    assert_eq!(client().get(&s.url("/p"), "text/html").expect("page").body, "ok");
    assert!(t.elapsed() < Duration::from_secs(4), "the 1 s timeout must cut the stall: {:?}", t.elapsed());
}

#[test]
fn persistent_failure_gives_up_with_a_clear_error() {
    let s = IndexServer::start();
    s.route("/p", Route::new("ok", "text/html").with_faults(vec![Fault::Status(502, None); 10]));
    let e = client().get(&s.url("/p"), "text/html").expect_err("gives up");
    assert!(e.to_string().contains("HTTP 502") && e.to_string().contains("gave up after 4 tries"), "{e}");
}

#[test]
fn a_root_page_is_read_as_it_arrives_and_a_broken_connection_starts_it_again() {
    let s = IndexServer::start();
    let names: Vec<String> = (0..30_000).map(|i| format!("p{i}")).collect();
    let body = format!("{{\"projects\":[{}]}}", names.iter().map(|n| format!("{{\"name\":\"{n}\",\"_last-serial\":1}}")).collect::<Vec<_>>().join(","));
    s.route("/simple/", Route::new(body.clone(), simple::JSON_TYPE).with_faults(vec![Fault::Truncate(body.len() / 2)]));
    let mut seen = Vec::new();
    let mut starts = 0;
    client()
        .get_streamed(&s.url("/simple/"), simple::ACCEPT, |head, r| {
            assert!(head.content_type.starts_with(simple::JSON_TYPE));
            starts += 1;
            seen.clear();
            pycorpus_index::read_json_root(r, &head.url, |n, _| {
                seen.push(n);
                Ok::<_, IndexError>(())
            })
        })
        .expect("root");
    assert_eq!((starts, s.hits("/simple/")), (2, 2), "the cut connection is retried from the start");
    assert_eq!(seen, names);
    // a page that does not parse is an error at once, not retried
    s.route("/bad/", Route::new("{\"projects\": [ nope", simple::JSON_TYPE));
    let e = client().get_streamed(&s.url("/bad/"), simple::ACCEPT, |head, r| pycorpus_index::read_json_root(r, &head.url, |_, _| Ok::<_, IndexError>(()))).expect_err("bad page");
    assert!(matches!(e, IndexError::Parse { .. }), "{e}");
    assert_eq!(s.hits("/bad/"), 1);
}

#[test]
fn a_page_that_is_not_utf8_is_read_with_replacement_characters() {
    let s = IndexServer::start();
    s.route("/p", Route::new(b"<a href='x'>caf\xe9</a>".to_vec(), "text/html"));
    let page = client().get(&s.url("/p"), "text/html").expect("page");
    assert_eq!(page.body, "<a href='x'>caf\u{fffd}</a>");
}
