//! `sync` end to end against a fake index on 127.0.0.1: selection, filters, incremental runs,
//! every network fault, lock files, and kill -9 in the middle.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use pycorpus_testkit::{Fault, IndexServer, Route};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

/// A fake index: projects with releases, served as a PEP 503 page (absolute URLs) and a
/// JSON API (relative URLs), files under /files/.
/// version, upload time, file name, bytes, yanked
type Published = (String, String, String, Vec<u8>, bool);

struct Index {
    server: IndexServer,
    projects: BTreeMap<String, Vec<Published>>,
}

impl Index {
    fn new() -> Index {
        Index { server: IndexServer::start(), projects: BTreeMap::new() }
    }
    fn url(&self) -> String {
        self.server.url("/simple/")
    }
    fn add(&mut self, project: &str, version: &str, upload: &str, filename: &str, data: Vec<u8>, yanked: bool) {
        self.server.route(&format!("/files/{filename}"), Route::new(data.clone(), "application/octet-stream"));
        self.projects.entry(project.into()).or_default().push((version.into(), upload.into(), filename.into(), data, yanked));
        self.publish(project);
    }
    fn publish(&self, project: &str) {
        let files = &self.projects[project];
        let mut releases: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut html = String::from("<html><body>\n");
        for (v, up, f, data, yanked) in files {
            let sha = hex::encode(Sha256::digest(data));
            releases.entry(v.clone()).or_default().push(json!({
                "filename": f, "url": format!("../../../files/{f}"), "digests": {"sha256": sha}, "size": data.len(),
                "upload_time_iso_8601": up, "yanked": yanked, "requires_python": null
            }));
            html.push_str(&format!("<a href=\"{}#sha256={sha}\"{}>{f}</a><br/>\n", self.server.url(&format!("/files/{f}")), if *yanked { " data-yanked=\"\"" } else { "" }));
        }
        let info = json!({"name": project, "summary": "s", "license": "MIT", "classifiers": [], "requires_python": null, "project_urls": {"Source": format!("https://src.test/{project}")}});
        let api = json!({"info": info, "last_serial": files.len(), "releases": releases});
        self.server.route(&format!("/pypi/{project}/json"), Route::new(api.to_string(), "application/json"));
        self.server.route(&format!("/simple/{project}/"), Route::new(html, "text/html"));
    }
    /// Serves the root listing as PEP 691 JSON with each project's `_last-serial` (the number
    /// of files it has, as its JSON API says).
    fn publish_root(&self) {
        let projects: Vec<Value> = self.projects.iter().map(|(p, files)| json!({"name": p, "_last-serial": files.len()})).collect();
        self.server.route("/simple/", Route::new(json!({"meta": {"api-version": "1.1"}, "projects": projects}).to_string(), "application/vnd.pypi.simple.v1+json"));
    }
    fn hits(&self, filename: &str) -> usize {
        self.server.hits(&format!("/files/{filename}"))
    }
}

fn sdist(name: &str, version: &str) -> Vec<u8> {
    tar_gz(&sdist_entries(name, version, &format!("# {name} {version}")))
}

fn wheel(name: &str, version: &str) -> Vec<u8> {
    zip_bytes(&[f(&format!("{name}/__init__.py"), format!("V = {version:?}\n").as_bytes()), f(&format!("{name}-{version}.dist-info/METADATA"), &pkg_info(name, version))])
}

fn sync(w: &World, idx: &Index, args: &[&str]) -> (Option<i32>, Value) {
    let url = idx.url();
    let mut a = vec!["sync", "--index-url", url.as_str(), "--json", "--retries", "3", "--timeout", "2"];
    a.extend_from_slice(args);
    let o = w.run(&a);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("sync {args:?}: no JSON\n{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)));
    (o.status.code(), v)
}

fn standard() -> Index {
    let mut idx = Index::new();
    idx.add("alpha", "1.0", "2024-01-01T00:00:00Z", "alpha-1.0.tar.gz", sdist("alpha", "1.0"), false);
    idx.add("alpha", "1.0", "2024-01-01T00:00:01Z", "alpha-1.0-py3-none-any.whl", wheel("alpha", "1.0"), false);
    idx.add("alpha", "2.0", "2024-06-01T00:00:00Z", "alpha-2.0.tar.gz", sdist("alpha", "2.0"), false);
    idx.add("alpha", "2.0", "2024-06-01T00:00:01Z", "alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", wheel("alpha", "2.0"), false);
    idx.add("beta", "0.9", "2023-01-01T00:00:00Z", "beta-0.9.tar.gz", sdist("beta", "0.9"), true);
    idx.add("beta", "1.0", "2024-03-01T00:00:00Z", "beta-1.0.tar.gz", sdist("beta", "1.0"), false);
    idx
}

#[test]
fn sync_incremental_and_new_releases() {
    let mut idx = standard();
    let w = World::new();
    w.ok(&["init"]);
    let (code, s) = sync(&w, &idx, &["--project", "alpha", "--project", "Beta"]);
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((s["downloaded"].as_u64(), s["add"]["added"].as_u64()), (Some(5), Some(5)), "{s}");
    assert_eq!(idx.hits("beta-0.9.tar.gz"), 0, "yanked files are skipped");
    let rows = w.rows(&["--project", "alpha", "--version", "2.0", "--path", "*/PKG-INFO"]);
    assert_eq!(rows[0]["uploaded_on"], "2024-06-01T00:00:00Z", "upload time from the JSON API");
    assert_eq!(std::fs::read_dir(w.corpus().join("downloads")).unwrap().count(), 0, "archives are not kept");
    // nothing new: nothing downloaded
    let (code, s) = sync(&w, &idx, &["--project", "alpha", "--project", "beta"]);
    assert_eq!((code, s["downloaded"].as_u64(), s["already_present"].as_u64()), (Some(0), Some(0), Some(5)), "{s}");
    assert_eq!(idx.server.hits_under("/files/"), 5);
    // a new release appears
    idx.add("alpha", "3.0", "2024-09-01T00:00:00Z", "alpha-3.0.tar.gz", sdist("alpha", "3.0"), false);
    let (_, s) = sync(&w, &idx, &["--project", "alpha", "--project", "beta"]);
    assert_eq!(s["downloaded"], 1, "{s}");
    assert_eq!(idx.hits("alpha-3.0.tar.gz"), 1);
    assert_eq!(idx.server.hits_under("/files/"), 6);
    assert!(w.ok(&["verify"]).lines().last().unwrap().starts_with("ok:"));
}

#[test]
fn filters_and_dry_run() {
    let idx = standard();
    let w = World::new();
    w.ok(&["init"]);
    let plan = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--project", "alpha", "--project", "beta", "--dry-run"];
        a.extend_from_slice(args);
        let (code, s) = sync(&w, &idx, &a);
        assert_eq!(code, Some(0), "{s}");
        let mut v: Vec<String> = s["planned"].as_array().unwrap().iter().map(|p| p["filename"].as_str().unwrap().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(plan(&[]).len(), 5);
    assert_eq!(plan(&["--types", "wheel"]), vec!["alpha-1.0-py3-none-any.whl", "alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"]);
    assert_eq!(plan(&["--only-pure-wheels", "--types", "wheel"]), vec!["alpha-1.0-py3-none-any.whl"]);
    assert_eq!(plan(&["--platform", "win_amd64", "--types", "wheel"]), Vec::<String>::new());
    assert_eq!(plan(&["--platform", "manylinux", "--types", "wheel"]), vec!["alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl"]);
    assert_eq!(plan(&["--latest", "1"]), vec!["alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", "alpha-2.0.tar.gz", "beta-1.0.tar.gz"]);
    assert_eq!(plan(&["--since", "2024-02-01", "--until", "2024-05-01"]), vec!["beta-1.0.tar.gz"]);
    assert_eq!(plan(&["--exclude", "al*"]), vec!["beta-1.0.tar.gz"]);
    assert_eq!(plan(&["--include-yanked", "--exclude", "alpha"]), vec!["beta-0.9.tar.gz", "beta-1.0.tar.gz"]);
    let mut sizes: Vec<(u64, String)> = idx.projects.values().flatten().filter(|f| !f.4).map(|f| (f.3.len() as u64, f.2.clone())).collect();
    sizes.sort();
    let limit = sizes[1].0;
    let mut want: Vec<String> = sizes.iter().filter(|(s, _)| *s <= limit).map(|(_, n)| n.clone()).collect();
    want.sort();
    assert_eq!(plan(&["--max-file-size", &limit.to_string()]), want);
    assert_eq!(idx.server.hits_under("/files/"), 0, "a dry run fetches nothing");
    let table = w.ok(&["sync", "--index-url", &idx.url(), "--project", "beta", "--dry-run"]);
    assert!(table.contains("beta-1.0.tar.gz") && table.contains("would fetch 1 file(s)"), "{table}");
}

#[test]
fn network_faults_are_survived_or_reported() {
    let mut idx = standard();
    let s500 = Fault::Status(500, None);
    let r = |name: &str| Route::new(idx.projects.values().flatten().find(|f| f.2 == name).unwrap().3.clone(), "application/octet-stream");
    idx.server.route("/files/alpha-1.0.tar.gz", r("alpha-1.0.tar.gz").with_faults(vec![s500.clone(), s500]));
    idx.server.route("/files/alpha-2.0.tar.gz", r("alpha-2.0.tar.gz").with_faults(vec![Fault::Status(429, Some(1))]));
    idx.server.route("/files/beta-1.0.tar.gz", r("beta-1.0.tar.gz").with_faults(vec![Fault::Truncate(300)]));
    idx.server.route("/files/alpha-1.0-py3-none-any.whl", r("alpha-1.0-py3-none-any.whl").with_faults(vec![Fault::Stall(Duration::from_secs(6))]));
    // served bytes that do not match the index's sha256
    idx.server.route("/files/alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", Route::new(b"not the wheel".to_vec(), "application/octet-stream"));
    idx.projects.insert("gone".into(), vec![]);
    let w = World::new();
    w.ok(&["init"]);
    let (code, s) = sync(&w, &idx, &["--project", "alpha", "--project", "beta", "--project", "missing-project"]);
    assert_eq!(code, Some(1), "failures set the exit code: {s}");
    assert_eq!(s["add"]["added"], 4, "{s}");
    assert_eq!(s["projects_missing"], json!(["missing-project"]));
    let fails = s["failures"].as_array().unwrap();
    assert_eq!(fails.len(), 1, "{s}");
    assert_eq!(fails[0]["file"], "alpha-2.0-cp312-cp312-manylinux_2_17_x86_64.whl");
    assert!(fails[0]["reason"].as_str().unwrap().contains("sha256 mismatch"), "{s}");
    assert!(w.rows(&["--project", "alpha", "--version", "2.0", "--dist-type", "wheel"]).is_empty(), "a mismatching file is never ingested");
    assert!(idx.server.ranges().iter().any(|(p, r)| p == "/files/beta-1.0.tar.gz" && r == "bytes=300-"), "{:?}", idx.server.ranges());
    assert_eq!(idx.hits("alpha-1.0.tar.gz"), 3);
}

#[test]
fn lock_reproduces_a_corpus() {
    let idx = standard();
    let a = World::new();
    a.ok(&["init"]);
    sync(&a, &idx, &["--project", "alpha", "--project", "beta", "--latest", "1"]);
    let lock = a.root().join("corpus.lock.tsv");
    a.ok(&["lock", "-o", lock.to_str().unwrap()]);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.starts_with("project\tversion\tfilename\tsize\tsha256\tupload_time\n") && text.lines().count() == 4, "{text}");
    let b = World::new();
    b.ok(&["init"]);
    let (code, s) = sync(&b, &idx, &["--lock", lock.to_str().unwrap()]);
    assert_eq!((code, s["add"]["added"].as_u64()), (Some(0), Some(3)), "{s}");
    a.ok(&["seal"]);
    b.ok(&["seal"]);
    let m = |w: &World| std::fs::read_to_string(w.corpus().join("shards/000001/manifest.json")).unwrap();
    assert_eq!(m(&a), m(&b), "sync --lock rebuilds the same shard, byte for byte");
    // ... and so the same torrent: two people who build shard 1 from the lock share one swarm.
    let hash = |w: &World| {
        let out = w.ok(&["torrent", "create", w.corpus().join("shards/000001").to_str().unwrap(), "-o", w.root().join("s.torrent").to_str().unwrap(), "--json"]);
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["files"], 11, "manifest, pack, index, grams, postings, rows, five Parquet files: {v}");
        v["info_hash"].as_str().unwrap().to_string()
    };
    let (ha, hb) = (hash(&a), hash(&b));
    assert_eq!(ha.len(), 40);
    assert_eq!(ha, hb, "the same shard built twice gives the same info-hash");
    assert_ne!(std::fs::read(a.root().join("s.torrent")).unwrap(), Vec::<u8>::new());
}

#[test]
fn kill_nine_mid_sync_resumes_without_refetching() {
    let mut idx = Index::new();
    for i in 0..24 {
        let body: String = (0..3000).map(|k| format!("x{i}_{k} = {k}\n")).collect();
        let mut e = sdist_entries(&format!("p{i}"), "1.0", "");
        e.push(f(&format!("p{i}-1.0/big.py"), body.as_bytes()));
        idx.add(&format!("p{i}"), "1.0", &format!("2024-01-{:02}T00:00:00Z", i + 1), &format!("p{i}-1.0.tar.gz"), tar_gz(&e), false);
    }
    let names: Vec<String> = (0..24).map(|i| format!("p{i}")).collect();
    let pf = World::new();
    std::fs::write(pf.root().join("projects.txt"), names.join("\n")).unwrap();
    let w = World::new();
    w.ok(&["init"]);
    let url = idx.url();
    let projects = pf.root().join("projects.txt");
    idx.server.set_delay(Duration::from_millis(40));
    let mut child = w.cmd().args(["sync", "--index-url", &url, "--projects-file", projects.to_str().unwrap(), "--quiet", "--jobs", "2"]).spawn().unwrap();
    // wait until some files are in, then kill
    let t = std::time::Instant::now();
    while idx.server.hits_under("/files/") < 8 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(child.try_wait().unwrap().is_none(), "the sync must still be running when killed");
    child.kill().unwrap();
    child.wait().unwrap();
    let before = idx.server.hits_under("/files/");
    assert!(before < 24, "killed mid-way: {before} of 24 files requested");
    idx.server.set_delay(Duration::ZERO);
    let (code, s) = sync(&w, &idx, &["--projects-file", projects.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{s}");
    let st: Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).unwrap();
    assert_eq!(st["total"]["distributions"], 24, "{s}");
    let after = idx.server.hits_under("/files/");
    assert!(after <= 24 + 2, "only files in flight at the kill may be requested twice: {before} then {after}");
    assert!(w.ok(&["verify"]).lines().last().unwrap().starts_with("ok:"));
}

/// Indexes without a JSON API: the simple page is used, as PEP 691 JSON when served, else
/// HTML; `--all` reads the root listing; a file URL that redirects is followed.
#[test]
fn simple_api_variants_and_all() {
    let idx = standard();
    for p in ["alpha", "beta"] {
        idx.server.remove(&format!("/pypi/{p}/json"));
    }
    // alpha: PEP 691 JSON simple page, relative URLs, one file behind a redirect
    let files: Vec<Value> = idx.projects["alpha"]
        .iter()
        .map(|(_, up, f, data, _)| json!({"filename": f, "url": format!("../../files/{f}"), "hashes": {"sha256": hex::encode(Sha256::digest(data))}, "upload-time": up, "size": data.len()}))
        .collect();
    idx.server.route("/simple/alpha/", Route::new(json!({"meta": {"api-version": "1.1"}, "name": "alpha", "files": files}).to_string(), "application/vnd.pypi.simple.v1+json"));
    let moved = idx.projects["alpha"][0].3.clone();
    idx.server.route("/cdn/alpha-1.0.tar.gz", Route::new(moved, "application/octet-stream"));
    idx.server.redirect("/files/alpha-1.0.tar.gz", "/cdn/alpha-1.0.tar.gz");
    // the root listing, in HTML
    idx.server.route("/simple/", Route::new("<html><body><a href=\"alpha/\">alpha</a>\n<a href=\"beta/\">beta</a></body></html>", "text/html"));
    let w = World::new();
    w.ok(&["init"]);
    let (code, s) = sync(&w, &idx, &["--all"]);
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((s["projects"].as_u64(), s["add"]["added"].as_u64()), (Some(2), Some(5)), "{s}");
    assert_eq!(idx.server.hits("/cdn/alpha-1.0.tar.gz"), 1, "the redirect was followed");
    let rows = w.rows(&["--project", "alpha", "--version", "2.0", "--path", "*/PKG-INFO"]);
    assert_eq!(rows[0]["uploaded_on"], "2024-06-01T00:00:00Z", "PEP 700 upload-time from the JSON simple page");
    // HTML-only (beta) gives no upload time: the file is still mirrored
    assert_eq!(w.rows(&["--project", "beta"]).len(), 4);
    let o = w.run(&["sync", "--index-url", &idx.url()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nothing selected") && err.contains("give --project NAME, --projects-file F, --lock FILE or --all"), "{err}");
}

/// The index's release metadata reaches releases.parquet: yanked status per file, and the
/// JSON API's summary/license where the archive's own metadata has none.
#[test]
fn index_metadata_reaches_the_release_table() {
    let mut idx = Index::new();
    // a wheel whose METADATA has no Summary or License
    let bare = zip_bytes(&[f("gamma/__init__.py", b"g = 1\n"), f("gamma-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: gamma\nVersion: 1.0\n\n")]);
    idx.add("gamma", "1.0", "2024-02-02T00:00:00Z", "gamma-1.0-py3-none-any.whl", bare, false);
    idx.add("gamma", "0.9", "2024-01-01T00:00:00Z", "gamma-0.9.tar.gz", sdist("gamma", "0.9"), true);
    let w = World::new();
    w.ok(&["init"]);
    let (code, s) = sync(&w, &idx, &["--project", "gamma", "--include-yanked"]);
    assert_eq!(code, Some(0), "{s}");
    w.ok(&["seal"]);
    let rels = pycorpus_catalog::read_releases(&w.corpus().join("shards/000001/releases.parquet")).unwrap();
    let by: BTreeMap<&str, &pycorpus_catalog::Release> = rels.iter().map(|r| (r.project_release.as_str(), r)).collect();
    let wheel = by["gamma-1.0-py3-none-any.whl"];
    assert_eq!((wheel.summary.as_deref(), wheel.license.as_deref(), wheel.yanked), (Some("s"), Some("MIT"), Some(false)));
    let old = by["gamma-0.9.tar.gz"];
    assert_eq!(old.yanked, Some(true));
    assert_eq!(old.summary.as_deref(), Some("test package gamma"), "the archive's own metadata wins");
    assert_eq!(wheel.project_urls, vec![("Source".to_string(), "https://src.test/gamma".to_string())], "project URLs from the JSON API");
}

/// `sync --conda-channel`: packages listed in `<subdir>/repodata.json` (`.conda` and
/// `.tar.bz2`), verified by sha256, typed conda, upload time from the channel's timestamp.
#[test]
fn conda_channel() {
    let server = IndexServer::start();
    let iota = conda_bytes("iota-9.0-h123_0", r#"{"name": "iota", "version": "9.0"}"#, &[f("lib/iota.py", b"print('iota')\n")]);
    let theta = bz2(&tar_bytes(&[f("info/index.json", br#"{"name": "theta", "version": "8.0"}"#), f("site-packages/theta/__init__.py", b"t = 8\n")]));
    let other = bz2(&tar_bytes(&[f("info/index.json", br#"{"name": "other", "version": "1"}"#)]));
    let entry = |name: &str, version: &str, data: &[u8]| json!({"name": name, "version": version, "build": "0", "sha256": hex::encode(Sha256::digest(data)), "size": data.len(), "timestamp": 1_700_000_000_000i64});
    let repodata = json!({
        "info": {"subdir": "noarch"},
        "packages": {"theta-8.0-py_0.tar.bz2": entry("theta", "8.0", &theta), "other-1-0.tar.bz2": entry("other", "1", &other)},
        "packages.conda": {"iota-9.0-h123_0.conda": entry("iota", "9.0", &iota)}
    });
    server.route("/chan/noarch/repodata.json", Route::new(repodata.to_string(), "application/json"));
    server.route("/chan/noarch/iota-9.0-h123_0.conda", Route::new(iota, "application/octet-stream"));
    server.route("/chan/noarch/theta-8.0-py_0.tar.bz2", Route::new(theta, "application/octet-stream"));
    let w = World::new();
    w.ok(&["init"]);
    let chan = server.url("/chan");
    let out = w.ok(&["sync", "--conda-channel", &chan, "--subdir", "noarch", "--project", "iota", "--project", "theta", "--json"]);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["add"]["added"], 2, "{s}");
    assert_eq!(server.hits("/chan/noarch/other-1-0.tar.bz2"), 0, "only the selected packages");
    let rows = w.rows(&["--dist-type", "conda"]);
    let mut got: Vec<(String, String)> = rows.iter().map(|r| (r["project_name"].as_str().unwrap().to_string(), r["project_version"].as_str().unwrap().to_string())).collect();
    got.dedup();
    assert_eq!(got, vec![("iota".to_string(), "9.0".to_string()), ("theta".to_string(), "8.0".to_string())]);
    assert_eq!(rows[0]["uploaded_on"], "2023-11-14T22:13:20Z");
    assert_eq!(w.run(&["sync", "--subdir", "noarch", "--project", "x"]).status.code(), Some(2), "--subdir needs --conda-channel");
}

/// state.sqlite remembers each project's serial and each file's progress: `--all` on a PEP 691
/// root with `_last-serial` lists only projects that changed since their last complete sync
/// under the same selection; a project with a failed download is listed again next time.
#[test]
fn serials_skip_unchanged_projects_and_failures_are_kept() {
    let mut idx = standard();
    idx.publish_root();
    let w = World::new();
    w.ok(&["init"]);
    let api_hits = |idx: &Index| idx.server.hits_under("/pypi/");
    let (code, s) = sync(&w, &idx, &["--all"]);
    assert_eq!((code, s["add"]["added"].as_u64(), s["unchanged_projects"].as_u64()), (Some(0), Some(5), Some(0)), "{s}");
    assert_eq!(api_hits(&idx), 2);
    // nothing changed: no project is listed again
    let (code, s) = sync(&w, &idx, &["--all"]);
    assert_eq!((code, s["unchanged_projects"].as_u64(), s["downloaded"].as_u64()), (Some(0), Some(2), Some(0)), "{s}");
    assert_eq!(api_hits(&idx), 2, "unchanged projects are not polled");
    // a new release of alpha moves its serial: only alpha is listed
    idx.add("alpha", "3.0", "2024-09-01T00:00:00Z", "alpha-3.0.tar.gz", sdist("alpha", "3.0"), false);
    idx.publish_root();
    let (_, s) = sync(&w, &idx, &["--all"]);
    assert_eq!((s["unchanged_projects"].as_u64(), s["downloaded"].as_u64()), (Some(1), Some(1)), "{s}");
    assert_eq!(idx.server.hits("/pypi/alpha/json"), 2);
    assert_eq!(idx.server.hits("/pypi/beta/json"), 1);
    // another selection lists everything again
    let (_, s) = sync(&w, &idx, &["--all", "--include-yanked"]);
    assert_eq!((s["unchanged_projects"].as_u64(), s["downloaded"].as_u64()), (Some(0), Some(1)), "the yanked beta 0.9: {s}");

    // a download that fails stays on record, with its reason, and its project is not
    // recorded as synced: the next run lists it and fetches the file
    idx.add("beta", "2.0", "2024-10-01T00:00:00Z", "beta-2.0.tar.gz", sdist("beta", "2.0"), false);
    let good = sdist("beta", "2.0");
    idx.server.route("/files/beta-2.0.tar.gz", Route::new(b"garbage".to_vec(), "application/octet-stream"));
    idx.publish_root();
    let (code, s) = sync(&w, &idx, &["--all", "--include-yanked"]);
    assert_eq!((code, s["failures"].as_array().map(Vec::len)), (Some(1), Some(1)), "{s}");
    let st: Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).unwrap();
    assert_eq!(st["sync"]["files"]["failed"], 1, "{st}");
    assert_eq!(st["sync"]["failed"][0]["file_name"], "beta-2.0.tar.gz", "{st}");
    assert!(st["sync"]["failed"][0]["reason"].as_str().unwrap().contains("sha256"), "{st}");
    let table = w.ok(&["status"]);
    assert!(table.contains("beta-2.0.tar.gz") && table.contains("sha256"), "status names the failed file and why:\n{table}");
    idx.server.route("/files/beta-2.0.tar.gz", Route::new(good, "application/octet-stream"));
    let (code, s) = sync(&w, &idx, &["--all", "--include-yanked"]);
    assert_eq!((code, s["downloaded"].as_u64(), s["unchanged_projects"].as_u64()), (Some(0), Some(1), Some(1)), "{s}");
    let st: Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).unwrap();
    assert_eq!((st["sync"]["files"]["failed"].as_u64(), st["sync"]["files"]["ingested"].as_u64()), (None, Some(8)), "{st}");
}

/// A selection larger than one listing batch, with a memory budget so small that the plan
/// spills a run per file: the plan is whole and oldest first, every file arrives once, and
/// the next `--all` lists only the project whose serial moved.
#[test]
fn a_large_selection_streams_through_batches_and_a_spilled_plan() {
    let mut idx = Index::new();
    let n = 700; // more than one listing batch (512)
    for i in 0..n {
        let p = format!("p{i:04}");
        // upload times run against name order, so the plan's order is not the listing's
        let day = 1 + (n - i) % 28;
        let month = 1 + (n - i) / 28 % 12;
        let up = format!("20{:02}-{month:02}-{day:02}T00:00:{:02}Z", 10 + (n - i) / 336, i % 60);
        idx.add(&p, "1.0", &up, &format!("{p}-1.0.tar.gz"), sdist(&p, "1.0"), false);
    }
    idx.publish_root();
    let w = World::new();
    w.ok(&["init"]);
    let toml = w.corpus().join("corpus.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let budget = set_toml_key(&text, "memory_budget_bytes", "64");
    std::fs::write(&toml, budget).unwrap();

    let (code, s) = sync(&w, &idx, &["--all", "--dry-run"]);
    assert_eq!(code, Some(0), "{s}");
    let plan: Vec<(String, String)> = s["planned"].as_array().unwrap().iter().map(|p| (p["upload_time"].to_string(), p["filename"].as_str().unwrap().to_string())).collect();
    assert_eq!((plan.len(), s["planned_files"].as_u64()), (n, Some(n as u64)), "{s}");
    let times: Vec<i64> = s["planned"].as_array().unwrap().iter().map(|p| p["upload_time"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "the plan is oldest first");
    assert_eq!(idx.server.hits_under("/files/"), 0, "a dry run fetches nothing");

    let (code, s) = sync(&w, &idx, &["--all", "--jobs", "3"]);
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((s["planned_files"].as_u64(), s["add"]["added"].as_u64()), (Some(n as u64), Some(n as u64)), "{s}");
    assert_eq!(s["planned"].as_array().map(Vec::len), Some(0), "a real sync does not hold its plan");
    assert_eq!(idx.server.hits_under("/files/"), n);
    assert!(w.ok(&["verify"]).lines().last().unwrap().starts_with("ok:"));
    let leftovers: Vec<_> = std::fs::read_dir(w.corpus().join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "the plan's runs are removed: {leftovers:?}");

    // one project gains a release: only it is listed again
    idx.add("p0007", "2.0", "2030-01-01T00:00:00Z", "p0007-2.0.tar.gz", sdist("p0007", "2.0"), false);
    idx.publish_root();
    let listed_before = idx.server.hits_under("/pypi/");
    let (code, s) = sync(&w, &idx, &["--all"]);
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((s["unchanged_projects"].as_u64(), s["downloaded"].as_u64()), (Some(n as u64 - 1), Some(1)), "{s}");
    assert_eq!(idx.server.hits_under("/pypi/") - listed_before, 1, "only the changed project is listed");
}
