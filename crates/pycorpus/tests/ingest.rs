//! End-to-end tests of `init`, `add`, `seal`, `ls`, `cat`, `status`, `verify` on generated
//! archives, hostile ones included. Each test runs the real binary in its own folder.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;

fn by_path(rows: &[Value]) -> BTreeMap<String, Value> {
    rows.iter().map(|r| (r["archive_path"].as_str().expect("archive_path").to_string(), r.clone())).collect()
}

#[test]
fn every_format_is_read_and_typed() {
    let w = World::new();
    let sd = sdist_entries("alpha", "1.0", "");
    w.write("alpha-1.0.tar.gz", &tar_gz(&sd));
    w.write("beta-2.0.tgz", &tar_gz(&sdist_entries("beta", "2.0", "")));
    w.write("gamma-3.0.tar.bz2", &bz2(&tar_bytes(&sdist_entries("gamma", "3.0", ""))));
    w.write("delta-4.0.tar.xz", &xz(&tar_bytes(&sdist_entries("delta", "4.0", ""))));
    w.write("eps-5.0.zip", &zip_bytes(&sdist_entries("eps", "5.0", "")));
    w.write("zeta_pkg-6.0-py3-none-any.whl", &zip_bytes(&[f("zeta_pkg/__init__.py", b"x = 1\n"), f("zeta_pkg-6.0.dist-info/METADATA", &pkg_info("zeta-pkg", "6.0"))]));
    w.write("eta-7.0-py3.8.egg", &zip_bytes(&[f("eta/__init__.py", b"y = 2\n"), f("EGG-INFO/PKG-INFO", &pkg_info("eta", "7.0"))]));
    w.write("theta-8.0-py_0.tar.bz2", &bz2(&tar_bytes(&[f("info/index.json", br#"{"name": "theta", "version": "8.0", "license": "BSD"}"#), f("site-packages/theta/__init__.py", b"z = 3\n")])));
    w.write("iota-9.0-h123_0.conda", &conda_bytes("iota-9.0-h123_0", r#"{"name": "iota", "version": "9.0"}"#, &[f("lib/iota.py", b"print('iota')\n")]));
    w.ok(&["init"]);
    let out = w.ok(&["add", "in", "--json"]);
    let s: Value = serde_json::from_str(&out).expect("summary");
    assert_eq!(s["added"], 9, "{out}");
    assert_eq!(s["failed"], 0, "{out}");
    for sealed in [false, true] {
        if sealed {
            w.ok(&["seal"]);
        }
        let rows = w.rows(&[]);
        let kinds: BTreeMap<String, (String, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["project_release"].as_str().unwrap().to_string(),
                    (r["project_name"].as_str().unwrap().into(), r["project_version"].as_str().unwrap().into(), r["dist_type"].as_str().unwrap().into()),
                )
            })
            .collect();
        let want = [
            ("alpha-1.0.tar.gz", "alpha", "1.0", "sdist"),
            ("beta-2.0.tgz", "beta", "2.0", "sdist"),
            ("gamma-3.0.tar.bz2", "gamma", "3.0", "sdist"),
            ("delta-4.0.tar.xz", "delta", "4.0", "sdist"),
            ("eps-5.0.zip", "eps", "5.0", "sdist"),
            ("zeta_pkg-6.0-py3-none-any.whl", "zeta-pkg", "6.0", "wheel"),
            ("eta-7.0-py3.8.egg", "eta", "7.0", "egg"),
            ("theta-8.0-py_0.tar.bz2", "theta", "8.0", "conda"),
            ("iota-9.0-h123_0.conda", "iota", "9.0", "conda"),
        ];
        for (rel, p, v, t) in want {
            assert_eq!(kinds.get(rel), Some(&(p.to_string(), v.to_string(), t.to_string())), "{rel} sealed={sealed}");
        }
        let conda = w.rows(&["--project", "iota"]);
        let paths: Vec<&str> = conda.iter().map(|r| r["archive_path"].as_str().unwrap()).collect();
        assert!(paths.contains(&"lib/iota.py") && paths.contains(&"info/index.json") && paths.contains(&"metadata.json"), "{paths:?}");
        // every stored file reads back byte for byte through cat
        let core = w.ok(&["cat", "alpha", "1.0", "alpha/core.py"]);
        assert!(core.starts_with("def add(a, b):"), "{core}");
    }
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn skip_rules_in_order() {
    let w = World::new();
    let big_py = vec![b'\n'; 5 * 1024 * 1024 + 1];
    let mut long_lines = vec![b'x'; 60 * 1024];
    long_lines[..4].copy_from_slice(b"\n\n\n\n");
    let entries = vec![
        f("p-1/stored.py", b"print('hi')\n"),
        f("p-1/binary.bin", b"\x00\x01\x02"),
        f("p-1/empty.py", b""),
        f("p-1/armor.py", b"__pyarmor__(__name__, __file__, b'...')\n"),
        f("p-1/lfs.bin", b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\n"),
        f("p-1/big.txt", &vec![b'a'; 200 * 1024 + 1]),
        f("p-1/big.py", &big_py),
        f("p-1/.git/config", b"[core]\n"),
        f("p-1/venv/lib/site.py", b"import os\n"),
        f("p-1/min.js", &long_lines),
        f("p-1/ok200k.txt", &vec![b'\n'; 200 * 1024]),
    ];
    w.write("p-1.tar.gz", &tar_gz(&entries));
    w.ok(&["init"]);
    w.ok(&["add", "in"]);
    w.ok(&["seal"]);
    let rows = by_path(&w.rows(&[]));
    let want = [
        ("p-1/stored.py", Value::Null),
        ("p-1/binary.bin", "binary".into()),
        ("p-1/empty.py", "empty".into()),
        ("p-1/armor.py", "binary".into()),
        ("p-1/lfs.bin", "version-control".into()),
        ("p-1/big.txt", "too-large".into()),
        ("p-1/big.py", "too-large".into()),
        ("p-1/.git/config", "version-control".into()),
        ("p-1/venv/lib/site.py", "virtualenv".into()),
        ("p-1/min.js", "text-long-lines".into()),
        ("p-1/ok200k.txt", Value::Null),
    ];
    for (path, reason) in want {
        assert_eq!(rows[path]["skip_reason"], reason, "{path}");
    }
    assert_eq!(rows["p-1/binary.bin"]["lines"], Value::Null);
    assert_eq!(rows["p-1/stored.py"]["lines"], 1);
    assert_eq!(rows["p-1/big.py"]["size"], 5 * 1024 * 1024 + 1);
    // skipped files are indexed with their id but not stored
    let o = w.run(&["cat", "p", "1", "p-1/big.txt"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not stored (skip reason: too-large)"));
    let stored = w.rows(&["--skip-reason", "none"]);
    assert_eq!(stored.len(), 2);
}

#[test]
fn hostile_paths_are_normalised_and_nothing_escapes() {
    let w = World::new();
    let entries = vec![
        f("../../outside.py", b"evil = 1\n"),
        f("/abs/path.py", b"abs = 1\n"),
        f("pkg-1/a/../../../b.py", b"b = 1\n"),
        E::File(b"pkg-1/bad\xff\xfename.py".to_vec(), b"bad = 1\n".to_vec()),
        f("pkg-1\\windows\\style.py", b"w = 1\n"),
        f("pkg-1/new\nline.py", b"n = 1\n"),
        f(&format!("pkg-1/{}/deep.py", "d".repeat(150)), b"deep = 1\n"),
        E::Symlink(b"pkg-1/link".to_vec(), b"/etc/passwd".to_vec()),
        E::Symlink(b"pkg-1/up".to_vec(), b"../../../../".to_vec()),
        E::Hardlink(b"pkg-1/hard".to_vec(), b"/etc/shadow".to_vec()),
        f("pkg-1/dup.py", b"first\n"),
        f("pkg-1/dup.py", b"second\n"),
    ];
    w.write("pkg-1.tar.gz", &tar_gz(&entries));
    w.write("zpkg-1.zip", &zip_bytes(&[f("../zip-escape.py", b"z = 1\n"), E::Symlink(b"zpkg-1/ln".to_vec(), b"/etc/hosts".to_vec())]));
    let before: Vec<_> = walk(w.root().parent().expect("parent"), 1);
    w.ok(&["init"]);
    w.ok(&["add", "in"]);
    w.ok(&["seal"]);
    let after: Vec<_> = walk(w.root().parent().expect("parent"), 1);
    assert_eq!(before, after, "nothing may be written beside the test folder");
    let all: Vec<Value> = w.rows(&[]);
    let inner = |r: &Value| r["path"].as_str().unwrap().splitn(4, '/').nth(3).unwrap().to_string();
    let paths: BTreeMap<String, String> = all.iter().map(|r| (r["archive_path"].as_str().unwrap().to_string(), inner(r))).collect();
    assert_eq!(paths["../../outside.py"], "outside.py");
    assert_eq!(paths["/abs/path.py"], "abs/path.py");
    assert_eq!(paths["pkg-1/a/../../../b.py"], "b.py");
    assert_eq!(paths["pkg-1/bad\\xff\\xfename.py"], "pkg-1/bad\\xff\\xfename.py", "invalid UTF-8 is escaped, not lost");
    assert_eq!(paths["pkg-1\\windows\\style.py"], "pkg-1/windows/style.py");
    assert_eq!(paths["pkg-1/new\nline.py"], "pkg-1/new\\x0aline.py");
    assert_eq!(paths["../zip-escape.py"], "zip-escape.py");
    assert!(paths.contains_key(&format!("pkg-1/{}/deep.py", "d".repeat(150))), "GNU long names are read");
    let rows = by_path(&all);
    assert_eq!(rows["pkg-1/link"]["skip_reason"], "symlink");
    assert_eq!(rows["pkg-1/link"]["link_target"], "/etc/passwd");
    assert_eq!(rows["pkg-1/hard"]["skip_reason"], "hardlink");
    assert_eq!(rows["zpkg-1/ln"]["skip_reason"], "symlink");
    assert_eq!(rows["zpkg-1/ln"]["link_target"], "/etc/hosts");
    // duplicate entries: both indexed, both stored
    let dups: Vec<&Value> = all.iter().filter(|r| r["archive_path"] == "pkg-1/dup.py").collect();
    assert_eq!(dups.len(), 2);
    let mut contents: Vec<String> = dups.iter().map(|r| w.ok(&["cat", r["hash"].as_str().unwrap()])).collect();
    contents.sort();
    assert_eq!(contents, vec!["first\n", "second\n"]);
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}

fn walk(dir: &std::path::Path, depth: usize) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|it| it.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n == "outside.py" || n == "zip-escape.py" || n == "b.py" || n == "abs").collect())
        .unwrap_or_default();
    out.sort();
    let _ = depth;
    out
}

#[test]
fn corrupt_truncated_and_bombs_fail_alone() {
    let w = World::new();
    let good = tar_gz(&sdist_entries("good", "1.0", ""));
    w.write("good-1.0.tar.gz", &good);
    w.write("truncated-1.0.tar.gz", &good[..good.len() / 2]);
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    w.write("flipped-1.0.tar.gz", &flipped);
    w.write("notanarchive-1.0.tar.gz", b"this is plain text, not gzip");
    w.write("empty-1.0.zip", b"");
    // 100 MB of zeros: compresses ~1000:1, over the default 250:1 ratio limit.
    let zeros = vec![0u8; 100 << 20];
    w.write("bomb-1.0.tar.gz", &gzip_level(&tar_bytes(&[f("bomb-1.0/zeros.bin", &zeros)]), flate2::Compression::best()));
    // A zip can skip an entry without decompressing it: the one that is a bomb by itself is
    // indexed as too-large from its header and the archive is kept (see the test below).
    w.write("zipbomb-1.0.zip", &zip_bytes(&[f("zipbomb-1.0/zeros.bin", &zeros), f("zipbomb-1.0/small.py", b"x = 1\n")]));
    drop(zeros);
    w.ok(&["init"]);
    let s: Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    assert_eq!(s["added"], 2, "{s}");
    assert_eq!(s["failed"], 5, "{s}");
    let reasons: BTreeMap<String, String> = s["failures"].as_array().unwrap().iter().map(|f| (f["file"].as_str().unwrap().into(), f["reason"].as_str().unwrap().into())).collect();
    assert!(reasons["truncated-1.0.tar.gz"].starts_with("corrupt:"), "{reasons:?}");
    assert!(reasons["flipped-1.0.tar.gz"].starts_with("corrupt:"), "{reasons:?}");
    assert!(reasons["notanarchive-1.0.tar.gz"].starts_with("unknown-format:"), "{reasons:?}");
    assert!(reasons["empty-1.0.zip"].starts_with("unknown-format:"), "{reasons:?}");
    assert!(reasons["bomb-1.0.tar.gz"].starts_with("bomb:"), "{reasons:?}");
    assert!(!reasons.contains_key("zipbomb-1.0.zip"), "{reasons:?}");
    // a failure is recorded once: a second add skips it; --retry-failed reads it again
    let s2: Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    assert_eq!((s2["already_present"].as_u64(), s2["failed"].as_u64()), (Some(7), Some(0)));
    let s3: Value = serde_json::from_str(&w.ok(&["add", "in", "--json", "--retry-failed"])).expect("json");
    assert_eq!(s3["failed"], 5);
    w.ok(&["seal"]);
    let st: Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).expect("json");
    assert_eq!(st["total"]["distributions"], 7);
    assert_eq!(st["total"]["failed"], 5);
}

/// Issue 23, point 6: a wheel holding one oversize entry (500 MB of zeros as a `.py`, over
/// 250:1 on its own) beside real files keeps its real files; the entry is indexed as
/// `too-large` without being decompressed. The same entry in a tar.gz, whose entries can only
/// be passed by reading through them, makes the whole archive too much to read: `bomb`.
#[test]
fn one_oversize_entry_keeps_its_neighbours() {
    let w = World::new();
    const HUGE: u64 = 500 << 20;
    let wheel = w.input().join("padded-1.0-py3-none-any.whl");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).large_file(true);
        use std::io::Write;
        for (name, data) in [("padded/__init__.py", &b"from .core import add\n"[..]), ("padded/core.py", b"def add(a, b):\n    return a + b\n")] {
            z.start_file(name, opts).unwrap();
            z.write_all(data).unwrap();
        }
        z.start_file("padded/huge.py", opts).unwrap();
        let mib = vec![0u8; 1 << 20];
        for _ in 0..(HUGE >> 20) {
            z.write_all(&mib).unwrap();
        }
        z.start_file("padded-1.0.dist-info/METADATA", opts).unwrap();
        z.write_all(&pkg_info("padded", "1.0")).unwrap();
        z.finish().unwrap();
    }
    let size = std::fs::metadata(&wheel).unwrap().len();
    assert!(HUGE / size > 250, "the wheel as a whole is over the 250:1 ratio ({size} bytes)");
    // The same files as an sdist: a tar must read through the entry to reach the next one.
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(w.input().join("padded-1.0.tar.gz")).unwrap(), flate2::Compression::best());
    {
        let mut b = tar::Builder::new(&mut enc);
        let mut h = tar::Header::new_gnu();
        h.set_size(HUGE);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "padded-1.0/huge.py", std::io::Read::take(std::io::repeat(0), HUGE)).unwrap();
        let core = b"def add(a, b):\n    return a + b\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(core.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "padded-1.0/padded/core.py", &core[..]).unwrap();
        b.finish().unwrap();
    }
    enc.finish().unwrap();

    w.ok(&["init"]);
    let s: Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    assert_eq!((s["added"].as_u64(), s["failed"].as_u64()), (Some(1), Some(1)), "{s}");
    assert_eq!(s["failures"][0]["file"], "padded-1.0.tar.gz", "{s}");
    assert!(s["failures"][0]["reason"].as_str().unwrap().starts_with("bomb:"), "{s}");
    let rows = by_path(&w.rows(&["--project", "padded"]));
    assert_eq!(rows.len(), 4, "{rows:?}");
    let huge = &rows["padded/huge.py"];
    assert_eq!(huge["skip_reason"], "too-large", "{huge}");
    assert_eq!(huge["size"], HUGE, "{huge}");
    assert_eq!(huge["hash"], "0".repeat(40), "never read, so no blob id: {huge}");
    assert!(huge["lines"].is_null(), "{huge}");
    for good in ["padded/__init__.py", "padded/core.py", "padded-1.0.dist-info/METADATA"] {
        assert!(rows[good]["skip_reason"].is_null(), "{good} is stored: {:?}", rows[good]);
    }
    assert_eq!(w.ok(&["cat", "padded", "1.0", "padded/core.py"]), "def add(a, b):\n    return a + b\n");
    w.ok(&["seal"]);
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn total_size_limit_from_config() {
    let w = World::new();
    w.ok(&["init"]);
    let cfg = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    w.set_config(&cfg.replace("max_total_bytes = 17179869184", "max_total_bytes = 1000000"));
    w.write("huge-1.0.tar.gz", &tar_gz(&[f("huge-1.0/a.txt", &vec![b'a'; 2_000_000])]));
    let s: Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    assert_eq!(s["failures"][0]["reason"].as_str().unwrap().split(':').next(), Some("too-large"), "{s}");
    w.set_config("shard_capacity = 5\n");
    let o = w.run(&["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown field"), "typos in corpus.toml are reported");
}

#[test]
fn a_million_entries_hit_the_entry_limit_quickly() {
    let w = World::new();
    // 1,000,000 empty files: 512 MB of tar headers, a few MB gzipped.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut b = tar::Builder::new(&mut enc);
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        for i in 0..1_000_000u32 {
            h.set_path(format!("many-1.0/f/{i:07}.py")).expect("path");
            h.set_cksum();
            b.append(&h, std::io::empty()).expect("append");
        }
        b.finish().expect("finish");
    }
    w.write("many-1.0.tar.gz", &enc.finish().expect("gz"));
    w.ok(&["init"]);
    let t = std::time::Instant::now();
    let s: Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    assert!(t.elapsed().as_secs() < 60, "the limit must stop the read early");
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("too-many-entries: more than 200000 entries"), "{reason}");
}

#[test]
fn errors_are_clear_and_exit_codes_right() {
    let w = World::new();
    let o = w.run(&["status"]);
    assert_eq!(o.status.code(), Some(1));
    // the library says what is wrong; the command line adds what to do, in its own terms
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is not a pycorpus corpus (no corpus.toml); create one with `pycorpus init`, or pass --corpus DIR"), "{err}");
    assert_eq!(w.run(&["ls", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(w.run(&[]).status.code(), Some(2));
    w.ok(&["init"]);
    assert!(w.ok(&["init"]).contains("already a corpus"));
    let o = w.run(&["add", "missing-dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing-dir"));
    w.write("notes.txt", b"hello");
    let o = w.run(&["add", "in"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no distribution files"));
    assert_eq!(w.run(&["ls", "--skip-reason", "nope"]).status.code(), Some(1));
    assert_eq!(w.run(&["ls", "--min-size", "1X"]).status.code(), Some(2));
    assert!(w.ok(&["seal"]).contains("nothing to seal"));
    assert!(w.ok(&["status"]).contains("no shards yet"));
    let help = w.ok(&["add", "--help"]);
    assert!(help.contains("Examples:"), "{help}");
}

#[test]
fn filters_and_formats() {
    let w = World::new();
    w.write("alpha-1.0.tar.gz", &tar_gz(&sdist_entries("alpha", "1.0", "")));
    w.write("alpha-2.0.tar.gz", &tar_gz(&sdist_entries("alpha", "2.0", "")));
    w.write("beta-1.0.tar.gz", &tar_gz(&sdist_entries("beta", "1.0", "")));
    w.ok(&["init"]);
    w.ok(&["add", "in", "--uploaded-on", "2024-03-01"]);
    assert_eq!(w.rows(&["--project", "alpha"]).len(), 8);
    assert_eq!(w.rows(&["--project", "ALPHA", "--version", "2.0"]).len(), 4);
    assert_eq!(w.rows(&["--ext", "py"]).len(), 9);
    assert_eq!(w.rows(&["--path", "*/setup.py"]).len(), 3);
    assert_eq!(w.rows(&["--ext", "py", "--unique"]).len(), 6, "core.py is shared by all three");
    assert_eq!(w.rows(&["--since", "2024-03-02"]).len(), 0);
    assert_eq!(w.rows(&["--until", "2024-03-02", "--dist-type", "sdist"]).len(), 12);
    std::fs::write(w.root().join("projects.txt"), "# mine\nbet*\n").unwrap();
    assert_eq!(w.rows(&["--projects-file", w.root().join("projects.txt").to_str().unwrap()]).len(), 4);
    let csv = w.ok(&["ls", "--format", "csv", "--limit", "3"]);
    assert_eq!(csv.lines().count(), 4);
    assert!(csv.starts_with("project_name,project_version,project_release,uploaded_on,path,archive_path,size,hash,skip_reason,lines,repository"));
    let table = w.ok(&["ls", "--limit", "2"]);
    assert_eq!(table.lines().count(), 2);
    let r = &w.rows(&["--limit", "1"])[0];
    assert_eq!(r["uploaded_on"], "2024-03-01T00:00:00Z");
    let status = w.ok(&["status"]);
    assert!(status.contains("distributions  3 (0 failed)"), "{status}");
    let csv = w.ok(&["status", "--format", "csv"]);
    assert!(csv.lines().nth(1).unwrap().starts_with("000001,open,3,0,12,"), "{csv}");
}

#[test]
fn shards_seal_themselves_at_capacity() {
    let w = World::new();
    for i in 0..6 {
        // ~60 kB of distinct text per distribution
        let body: String = (0..3000).map(|k| format!("v{i}_{k} = {k}\n")).collect();
        let mut e = sdist_entries(&format!("cap{i}"), "1.0", "");
        e.push(f(&format!("cap{i}-1.0/data.py"), body.as_bytes()));
        w.write(&format!("cap{i}-1.0.tar.gz"), &tar_gz(&e));
    }
    w.ok(&["init"]);
    let cfg = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    w.set_config(&cfg.replace("shard_capacity_bytes = 2147483648", "shard_capacity_bytes = 100000"));
    let s: Value = serde_json::from_str(&w.ok(&["add", "in", "--json", "--jobs", "1"])).expect("json");
    assert_eq!(s["added"], 6, "{s}");
    let sealed = s["sealed_shards"].as_array().unwrap().len();
    assert!(sealed >= 2, "a 100 kB capacity must seal several shards: {s}");
    let st: Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).expect("json");
    let shards = st["shards"].as_array().unwrap();
    assert!(shards.len() >= 3, "{st}");
    assert_eq!(st["total"]["distributions"], 6);
    // every shard is complete in itself; the listing spans all of them; cat finds any blob
    let rows = w.rows(&[]);
    assert_eq!(rows.len(), 6 * 5, "five files per distribution");
    let repos: std::collections::BTreeSet<u64> = rows.iter().map(|r| r["repository"].as_u64().unwrap()).collect();
    assert_eq!(repos.len(), shards.len());
    for r in rows.iter().filter(|r| r["skip_reason"].is_null()) {
        assert_eq!(w.ok(&["cat", r["hash"].as_str().unwrap()]).len() as u64, r["size"].as_u64().unwrap());
    }
    w.ok(&["seal"]);
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn an_entry_declaring_a_huge_size_is_refused_before_reading() {
    let w = World::new();
    // A tar header that declares 3 GiB, with no data behind it: the declared size alone is
    // over the 2 GiB per-entry limit, so it is refused without reading (not "corrupt").
    let mut h = tar::Header::new_gnu();
    h.set_path("liar-1.0/huge.bin").unwrap();
    h.set_size(3 << 30);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    w.write("liar-1.0.tar.gz", &gzip(h.as_bytes()));
    w.ok(&["init"]);
    let s: Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("entry-too-large: entry liar-1.0/huge.bin is 3221225472 bytes"), "{reason}");
}
