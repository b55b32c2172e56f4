//! `extract` (both layouts) and `stream` (both formats) on hostile names, long paths and
//! non-UTF-8 contents; `stream | python3` re-hashes every blob; reruns resume and never
//! overwrite.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn git_oid(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex::encode(h.finalize())
}

/// 300 characters: `deep/<100 x a>/<100 x b>/<90 x c>.py`, and one 250-byte component.
fn long_names() -> (String, String) {
    (format!("deep/{}/{}/{}.py", "a".repeat(100), "b".repeat(100), "c".repeat(90)), format!("{}.py", "L".repeat(247)))
}

/// Two releases sharing most files. `split`: each in its own sealed shard (a shard stores the
/// blobs its own rows hold, so shared blobs are in both); otherwise one shard.
fn build_with(split: bool) -> World {
    let w = World::new();
    w.ok(&["init"]);
    let (long_path, long_comp) = long_names();
    assert_eq!(long_path.len(), 300);
    for (name, version) in [("hostile", "1.0"), ("hostile", "2.0")] {
        let top = format!("{name}-{version}");
        let mut e = sdist_entries(name, version, "");
        for (p, data) in [
            ("aux.py", b"print('aux')\n".to_vec()),
            ("CON", b"device name\n".to_vec()),
            ("a:b?.py", b"colon = 1\n".to_vec()),
            ("trailing.", b"dot\n".to_vec()),
            ("latin1.py", b"# caf\xe9 in Latin-1\nx = '\xe9'\n".to_vec()),
            ("late_nul.py", [vec![b'x'; 2000], b"\0tail\n".to_vec()].concat()),
            ("empty.py", Vec::new()),
            ("image.bin", vec![0u8, 1, 2, 3, 0, 255]),
            (&long_path, b"long = True\n".to_vec()),
            (&long_comp, format!("version = {version:?}\n").into_bytes()),
        ] {
            e.push(f(&format!("{top}/{p}"), &data));
        }
        w.write(&format!("{top}.tar.gz"), &tar_gz(&e));
        if split {
            w.ok(&["add", w.input().join(format!("{top}.tar.gz")).to_str().unwrap()]);
            w.ok(&["seal"]);
        }
    }
    if !split {
        w.ok(&["add", w.input().to_str().unwrap()]);
        w.ok(&["seal"]);
    }
    let st: Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).unwrap();
    let shards = st["shards"].as_array().unwrap().len();
    assert_eq!(shards, if split { 2 } else { 1 });
    w
}

/// Every file under `dir` (relative path -> contents).
fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn windows_safe(p: &Path) -> bool {
    p.components().all(|c| {
        let s = c.as_os_str().to_str().unwrap();
        let stem = s.split('.').next().unwrap().to_ascii_lowercase();
        !s.contains(['<', '>', ':', '"', '\\', '|', '?', '*']) && !s.ends_with(['.', ' ']) && s.len() <= 200 && !["con", "prn", "aux", "nul"].contains(&stem.as_str())
    })
}

#[test]
fn extract_both_layouts_resume_and_conflicts() {
    extract_checks(build_with(false));
}

#[test]
fn extract_across_shards_writes_every_file_and_each_blob_once() {
    extract_checks(build_with(true));
}

fn extract_checks(w: World) {
    let stored: Vec<Value> = w.rows(&["--skip-reason", "none"]);
    let unique: BTreeSet<&str> = stored.iter().map(|r| r["hash"].as_str().unwrap()).collect();
    assert!(stored.len() > unique.len(), "some blobs are shared between the two releases");

    // oid layout: one file per blob, named by it, holding it
    let dest = w.root().join("by-oid");
    let o = w.run(&["extract", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = files_under(&dest);
    assert_eq!(files.len(), unique.len());
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), unique.len(), "each written file is printed");
    for (p, data) in &files {
        let oid = git_oid(data);
        assert!(p.starts_with(Path::new(&oid[..2]).join(&oid[2..4])) && p.file_name().unwrap().to_str().unwrap().starts_with(&oid), "{p:?}");
        assert!(windows_safe(p), "{p:?}");
    }
    assert_eq!(files.values().map(|d| git_oid(d)).collect::<BTreeSet<_>>(), unique.iter().map(|s| s.to_string()).collect());

    // tree layout: every stored file at its (safe) path
    let tree = w.root().join("tree");
    let o = w.run(&["extract", tree.to_str().unwrap(), "--layout", "tree"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = files_under(&tree);
    assert_eq!(files.len(), stored.len());
    for p in files.keys() {
        assert!(windows_safe(p), "{p:?}");
    }
    let (long_path, _) = long_names();
    let long = tree.join("hostile").join("hostile-1.0.tar.gz").join("hostile-1.0").join(&long_path);
    assert_eq!(std::fs::read(&long).unwrap(), b"long = True\n", "a 300-character path is kept as it is");
    assert_eq!(std::fs::read(tree.join("hostile/hostile-2.0.tar.gz/hostile-2.0/_aux.py")).unwrap(), b"print('aux')\n");
    assert_eq!(std::fs::read(tree.join("hostile/hostile-2.0.tar.gz/hostile-2.0/latin1.py")).unwrap(), b"# caf\xe9 in Latin-1\nx = '\xe9'\n");
    assert!(!tree.join("hostile/hostile-1.0.tar.gz/hostile-1.0/image.bin").exists(), "skipped files have no contents to write");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("4 selected file(s) have no stored contents"), "{err}");

    // a rerun writes nothing; a removed file and a leftover partial file are redone
    let o = w.run(&["extract", tree.to_str().unwrap(), "--layout", "tree"]);
    assert!(o.stdout.is_empty() && String::from_utf8_lossy(&o.stderr).contains(&format!("{} already there", stored.len())), "{}", String::from_utf8_lossy(&o.stderr));
    let victim = tree.join("hostile/hostile-1.0.tar.gz/hostile-1.0/hostile/core.py");
    std::fs::remove_file(&victim).unwrap();
    std::fs::write(victim.with_file_name(".core.py.pycorpus-part"), b"half wri").unwrap();
    let out = w.ok(&["extract", tree.to_str().unwrap(), "--layout", "tree"]);
    assert_eq!(out.trim(), "hostile/hostile-1.0.tar.gz/hostile-1.0/hostile/core.py");
    assert!(!victim.with_file_name(".core.py.pycorpus-part").exists());
    // a different file in the way is reported and left alone
    std::fs::write(&victim, b"mine, not yours\n").unwrap();
    let o = w.run(&["extract", tree.to_str().unwrap(), "--layout", "tree"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("a different file is already there"), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&victim).unwrap(), b"mine, not yours\n");

    // filters apply
    let one = w.root().join("one");
    w.ok(&["extract", one.to_str().unwrap(), "--layout", "tree", "--version", "2.0", "--path", "**/setup.py"]);
    assert_eq!(files_under(&one).keys().collect::<Vec<_>>(), vec![Path::new("hostile/hostile-2.0.tar.gz/hostile-2.0/setup.py")]);
}

const CHECK_JSONL: &str = r#"
import base64, hashlib, json, sys
n = 0
for line in sys.stdin:
    r = json.loads(line)
    data = r["contents"].encode("utf-8") if r["encoding"] == "utf-8" else base64.b64decode(r["contents"])
    assert len(data) == r["size"], r["path"]
    oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    assert oid == r["oid"], (r["path"], oid, r["oid"])
    n += 1
print(n)
"#;

const CHECK_RAW: &str = r#"
import hashlib, sys
inp = sys.stdin.buffer
n = 0
while True:
    head = inp.readline()
    if not head:
        break
    oid, kind, size = head.split()
    data = inp.read(int(size))
    assert inp.read(1) == b"\n"
    assert kind == b"blob"
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest().encode() == oid
    n += 1
print(n)
"#;

fn pipe(w: &World, args: &[&str], script: &str) -> String {
    let mut producer = w.cmd().args(args).stdout(Stdio::piped()).spawn().unwrap();
    let py = Command::new("python3").args(["-c", script]).stdin(producer.stdout.take().unwrap()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(producer.wait().unwrap().success());
    assert!(out.status.success(), "script failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn stream_to_python_rehashes_every_blob() {
    stream_checks(build_with(false));
}

#[test]
fn stream_across_shards_gives_every_row_and_each_blob_once() {
    stream_checks(build_with(true));
}

fn stream_checks(w: World) {
    let stored = w.rows(&["--skip-reason", "none"]);
    let unique: BTreeSet<String> = stored.iter().map(|r| r["hash"].as_str().unwrap().to_string()).collect();
    assert_eq!(pipe(&w, &["stream"], CHECK_JSONL), stored.len().to_string());
    assert_eq!(pipe(&w, &["stream", "--base64"], CHECK_JSONL), stored.len().to_string());
    assert_eq!(pipe(&w, &["stream", "--format", "raw"], CHECK_RAW), unique.len().to_string());
    assert_eq!(pipe(&w, &["stream", "--unique"], CHECK_JSONL), unique.len().to_string(), "--unique: one row per blob, whatever the shards");
    // the Latin-1 file comes as base64, UTF-8 ones as text
    let lines: Vec<Value> = w.ok(&["stream", "--path", "**/latin1.py", "--version", "1.0"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["encoding"], "base64");
    let setup: Value = serde_json::from_str(w.ok(&["stream", "--path", "*/setup.py", "--version", "2.0"]).trim()).unwrap();
    assert_eq!((setup["encoding"].as_str(), setup["project"].as_str(), setup["path_in_archive"].as_str()), (Some("utf-8"), Some("hostile"), Some("hostile-2.0/setup.py")));
    assert!(setup["contents"].as_str().unwrap().starts_with("from setuptools import setup"));
    // --stats: what was written, counted as written (files for jsonl, blobs for raw)
    for (args, records) in [(&["stream", "--stats"][..], stored.len()), (&["stream", "--format", "raw", "--stats"][..], unique.len())] {
        let out = w.cmd().args(args).output().unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().find(|l| l.starts_with("stream: ")).unwrap_or_else(|| panic!("{args:?}: no stream line in {stderr}")).replace(',', "");
        let want = format!("stream: {records} record(s) {} byte(s) written", out.stdout.len());
        assert!(line.starts_with(&want), "{args:?}: want {want:?}, got {line:?}");
    }
    // a reader that stops early is not an error
    let mut child = w.cmd().args(["stream"]).stdout(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    assert!(child.wait().unwrap().success());
    let _ = std::io::stdout().flush();
}
