//! shards-v2: a corpus stores each blob once, whatever the number of shards. The releases of
//! a project, each sealed in its own shard, answer every reader exactly as shards that each
//! stand alone (format 1) do, while the later shards pack only what changed.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;

/// Six releases of `p`, each changing two of its 30 modules, and one of `q` sharing some.
fn inputs(w: &World) -> Vec<String> {
    let mut names = Vec::new();
    for r in 0..6 {
        let version = format!("1.{r}");
        let mut e = sdist_entries("p", &version, "");
        for k in 0..30 {
            let edit = if k % 15 < 2 * r { format!("# edited in {}\n", (k % 15) / 2) } else { String::new() };
            let body = format!(
                "{edit}shared_value = {k}\ndef f{k}(x):\n    \"\"\"Multiply the number by {k} and add one to the product.\"\"\"\n    y = x * {k}\n    return y + 1\n{}",
                "# padding line\n".repeat(k)
            );
            e.push(f(&format!("p-{version}/p/m{k}.py"), body.as_bytes()));
        }
        e.push(f(&format!("p-{version}/p/version.py"), format!("VERSION = '{version}'\n").as_bytes()));
        let name = format!("p-{version}.tar.gz");
        w.write(&name, &tar_gz(&e));
        names.push(name);
    }
    let mut e = sdist_entries("q", "2.0", "");
    for k in 0..10 {
        e.push(f(&format!("q-2.0/q/m{k}.py"), format!("shared_value = {k}\ndef f{k}(x):\n    return x * {k} + 1\n{}", "# padding line\n".repeat(k)).as_bytes()));
    }
    w.write("q-2.0.tar.gz", &tar_gz(&e));
    names.push("q-2.0.tar.gz".into());
    names
}

/// A corpus of `format` with each input added and sealed on its own.
fn corpus(format: u32) -> World {
    let w = World::new();
    let names = inputs(&w);
    w.ok(&["init"]);
    let cfg = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    let cfg = set_toml_key(&cfg, "shard_format", &format.to_string());
    assert!(cfg.contains(&format!("shard_format = {format}")), "{cfg}");
    w.set_config(&cfg);
    for n in names {
        w.ok(&["add", &format!("in/{n}"), "--uploaded-on", "2024-05-01"]);
        w.ok(&["seal"]);
    }
    w
}

/// Outputs of every reader. Readers of every file (`--all-paths`, `stream`) list each shard's
/// own blobs, then those shared with earlier shards, which the format changes: those are
/// compared as sorted lines. Readers of unique blobs (`grep`) read each blob from the first
/// shard that stores it, in the order stored: their output is the same byte for byte.
fn answers(w: &World) -> Vec<String> {
    let runs: &[&[&str]] = &[
        &["grep", "-F", "shared_value"],
        &["grep", "--json", "def f[0-9]+"],
        &["grep", "-c", "--all-paths", "edited in"],
        &["grep", "-l", "--all-paths", "VERSION"],
        &["stream", "--ext", "py", "--format", "jsonl"],
        &["stream", "--ext", "py", "--format", "raw"],
        &["ls", "--unique", "--format", "jsonl"],
        &["ls", "--format", "jsonl"],
        &["cat", "p", "1.5", "p/m0.py"],
        &["cat", "q", "2.0", "q/m9.py"],
    ];
    let mut out: Vec<String> = runs
        .iter()
        .map(|a| {
            let out = w.ok(a);
            match a.contains(&"--all-paths") || a[0] == "stream" {
                true => {
                    let mut lines: Vec<&str> = out.lines().collect();
                    lines.sort_unstable();
                    lines.join("\n")
                }
                false => out,
            }
        })
        .collect();
    out.push(exported(w));
    out
}

/// The files `export codesearchnet` writes (records, split), as one text.
fn exported(w: &World) -> String {
    let dest = w.root().join(format!("csn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dest);
    let summary = json(&w.ok(&["export", "codesearchnet", dest.to_str().unwrap(), "--json"]));
    let records: u64 = summary["records"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert!(records > 0, "{summary}");
    let mut files: Vec<std::path::PathBuf> = walk(&dest.join("python/final"));
    files.sort();
    let mut text = String::new();
    for f in files {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(&f).unwrap()), &mut s).unwrap();
        text.push_str(&format!("== {}\n{s}", f.strip_prefix(&dest).unwrap().display()));
    }
    std::fs::remove_dir_all(&dest).unwrap();
    text
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Equal outputs (told apart by their first differing line: they are long).
fn same(a: &[String], b: &[String]) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if let Some((l, (p, q))) = x.lines().zip(y.lines()).enumerate().find(|(_, (p, q))| p != q) {
            panic!("answer {i} differs at line {l}:\n{p}\n{q}");
        }
        assert_eq!(x.len(), y.len(), "answer {i}");
    }
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

fn manifest(w: &World, shard: &str) -> serde_json::Value {
    json(&std::fs::read_to_string(w.corpus().join("shards").join(shard).join("manifest.json")).unwrap())
}

#[test]
fn each_blob_is_stored_once_and_every_reader_answers_as_with_standalone_shards() {
    let (v1, v2) = (corpus(1), corpus(2));
    let (a1, a2) = (answers(&v1), answers(&v2));
    same(&a1, &a2);
    assert!(a2[0].contains("shared_value"), "{}", a2[0]);
    assert!(a2[8].contains("shared_value = 0"), "{}", a2[8]);

    // Stored once: the v2 shards hold exactly the distinct blobs; v1 repeats them per shard.
    let (s1, s2) = (json(&v1.ok(&["status", "--format", "jsonl"])), json(&v2.ok(&["status", "--format", "jsonl"])));
    assert_eq!(s2["shards"].as_array().unwrap().len(), 7, "{s2}");
    let distinct: std::collections::BTreeSet<String> = v2.rows(&[]).iter().filter(|r| r["skip_reason"].is_null()).map(|r| r["hash"].as_str().unwrap().to_string()).collect();
    assert_eq!(s2["total"]["unique_blobs"].as_u64(), Some(distinct.len() as u64), "{s2}");
    assert!(s1["total"]["unique_blobs"].as_u64().unwrap() > 2 * distinct.len() as u64, "{s1}");
    assert!(s2["total"]["disk_bytes"].as_u64() < s1["total"]["disk_bytes"].as_u64(), "{s1} {s2}");

    // Manifests: v2 names what each shard relies on; v1 stands alone.
    let m = manifest(&v2, "000002");
    assert_eq!((m["format_version"].as_u64(), &m["depends_on"]), (Some(2), &serde_json::json!([1])), "{m}");
    // p 1.1 changes m0, m1, m15, m16, version.py, PKG-INFO, setup.py and __init__.py; its
    // other 26 modules and core.py are shard 1's
    assert_eq!((m["unique_blobs"].as_u64(), m["foreign_blobs"].as_u64()), (Some(8), Some(27)), "{m}");
    let q = manifest(&v2, "000007");
    assert!(!q["depends_on"].as_array().unwrap().is_empty(), "q shares modules with p: {q}");
    let m1 = manifest(&v1, "000002");
    assert_eq!(m1["format_version"].as_u64(), Some(1));
    assert!(m1.get("depends_on").is_none(), "{m1}");
    for w in [&v1, &v2] {
        let out = w.run(&["verify"]);
        assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }

    // The blob index is derived: without it readers look in each shard's own index, and the
    // next write rebuilds it as runs merged like a binary counter (7 shards: 4 + 2 + 1).
    std::fs::remove_dir_all(v2.corpus().join("blobs")).unwrap();
    same(&answers(&v2), &a2);
    v2.ok(&["seal"]);
    let mut runs: Vec<String> = std::fs::read_dir(v2.corpus().join("blobs")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    runs.sort();
    assert_eq!(runs, ["000001-000004.run", "000005-000006.run", "000007-000007.run"]);
    same(&answers(&v2), &a2);

    // A shard without the one it depends on: readers and verify name it.
    std::fs::rename(v2.corpus().join("shards/000001"), v2.root().join("000001")).unwrap();
    let out = v2.run(&["grep", "-F", "shared_value"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("shard 000001") && err.contains("does not have"), "{err}");
    let out = v2.run(&["verify"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && text.contains("shard 000001, which this corpus does not have"), "{text}");
    assert!(text.contains("p-1.1/p/m20.py refers to blob ") && text.contains("missing from the pack and from the shards it depends on"), "{text}");
    // Back in place, everything answers again (the stale runs are passed over, then rebuilt).
    std::fs::rename(v2.root().join("000001"), v2.corpus().join("shards/000001")).unwrap();
    same(&answers(&v2), &a2);
}

#[test]
fn ingest_journals_only_blobs_no_sealed_shard_stores() {
    let w = World::new();
    let names = inputs(&w);
    w.ok(&["init"]);
    w.ok(&["add", &format!("in/{}", names[0])]);
    w.ok(&["seal"]);
    let out = json(&w.ok(&["add", &format!("in/{}", names[1]), "--json"]));
    // p 1.1 brings eight new blobs; the other 27 are shard 1's and are not journaled again
    assert_eq!((out["new_blobs"].as_u64(), out["files"].as_u64()), (Some(8), Some(35)), "{out}");
    // the open shard reads through the sealed one
    assert!(w.ok(&["cat", "p", "1.1", "p/m20.py"]).contains("shared_value = 20"));
    assert!(w.ok(&["grep", "-c", "--all-paths", "shared_value"]).lines().count() >= 60);
    let out = w.run(&["verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

fn manifests(w: &World) -> Vec<serde_json::Value> {
    // shard folders (beside them: each one's cached metainfo, NNNNNN.torrent)
    let mut dirs: Vec<_> = std::fs::read_dir(w.corpus().join("shards")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.iter().map(|d| json(&std::fs::read_to_string(d.join("manifest.json")).unwrap())).collect()
}

fn set_format(w: &World, format: u32) {
    let cfg = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    w.set_config(&set_toml_key(&cfg, "shard_format", &format.to_string()));
}

/// `corpus.toml`'s text with `shard_format = format`.
#[test]
fn upgrade_rewrites_standalone_shards_in_place_and_changes_no_answer() {
    let w = corpus(1);
    let before = answers(&w);
    let out = w.run(&["upgrade"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("shard_format = 1"), "{out:?}");
    set_format(&w, 2);
    let s = json(&w.ok(&["upgrade", "--json"]));
    let direct = corpus(2);
    let want = json(&direct.ok(&["status", "--format", "jsonl"]));
    assert_eq!((s["shards_rewritten"].as_u64(), s["blobs_after"].as_u64()), (Some(7), want["total"]["unique_blobs"].as_u64()), "{s}");
    assert!(s["pack_bytes_after"].as_u64() < s["pack_bytes_before"].as_u64(), "{s}");
    same(&answers(&w), &before);
    // The same shards as sealed in format 2 directly: what each stores and relies on.
    let key = |m: &serde_json::Value| (m["format_version"].clone(), m["unique_blobs"].clone(), m["foreign_blobs"].clone(), m["depends_on"].clone(), m["files_sha256"]["files.parquet"].clone());
    assert_eq!(manifests(&w).iter().map(key).collect::<Vec<_>>(), manifests(&direct).iter().map(key).collect::<Vec<_>>());
    let out = w.run(&["verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(!w.root().join("corpus/shards.upgrade").exists());
    assert_eq!(json(&w.ok(&["upgrade", "--json"]))["shards_rewritten"].as_u64(), Some(0), "a second run has nothing to do");
}

#[test]
fn upgrade_killed_anywhere_leaves_a_corpus_all_old_or_all_new_that_verifies() {
    let w = corpus(1);
    let before = answers(&w);
    set_format(&w, 2);
    let pristine = w.root().join("pristine");
    copy_tree(&w.corpus(), &pristine);
    // How long a whole upgrade takes here, to spread the kills over it.
    let t0 = std::time::Instant::now();
    w.ok(&["upgrade"]);
    let whole = t0.elapsed();
    let mut outcomes = std::collections::BTreeMap::new();
    // Up to twice that: a loaded machine (the suite runs tests side by side) may take longer
    // than the timed run, and the last kills must still come after the swap.
    for i in 0..16u32 {
        std::fs::remove_dir_all(w.corpus()).unwrap();
        copy_tree(&pristine, &w.corpus());
        let mut child = w.cmd().args(["upgrade"]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(whole.mul_f64(f64::from(i) / 8.0));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let versions: std::collections::BTreeSet<u64> = manifests(&w).iter().map(|m| m["format_version"].as_u64().unwrap()).collect();
        assert_eq!(versions.len(), 1, "kill {i}: a mix of formats {versions:?}");
        let out = w.run(&["verify"]);
        assert!(out.status.success(), "kill {i}: {}", String::from_utf8_lossy(&out.stdout));
        *outcomes.entry(*versions.first().unwrap()).or_insert(0) += 1;
        // Readers answer the same in either state; the next upgrade finishes the job.
        same(&answers(&w), &before);
        w.ok(&["upgrade"]);
        assert!(manifests(&w).iter().all(|m| m["format_version"] == 2));
        assert!(!w.root().join("corpus/shards.upgrade").exists());
    }
    assert!(outcomes.len() == 2, "kills landed before and after the swap: {outcomes:?}");
}

fn copy_tree(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

#[test]
fn dependency_info_hashes_are_recorded_and_checked_and_a_damaged_cache_is_passed_over() {
    let w = corpus(2);
    let m2 = manifest(&w, "000002");
    let want = m2["depends_on_info_hash"]["000001"].as_str().unwrap().to_string();
    // the recorded hash is the one `torrent create` gives the shard
    let made = json(&w.ok(&["torrent", "create", "corpus/shards/000001", "-o", "s1.torrent", "--json"]));
    assert_eq!(made["info_hash"].as_str(), Some(want.as_str()));
    let cache = w.corpus().join("shards/000001.torrent");
    assert!(cache.is_file());
    // a damaged cache is only a slower path: verify hashes the shard itself and agrees
    std::fs::write(&cache, b"not a torrent").unwrap();
    let out = w.run(&["verify"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(std::fs::read(&cache).unwrap(), b"not a torrent", "verify is read-only");
    // a manifest that leaves out a shard its rows use is reported, row by row
    let path = w.corpus().join("shards/000002/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"depends_on\": [\n    1\n  ]", "\"depends_on\": []")).unwrap();
    let out = w.run(&["verify"]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && report.contains("p-1.1/p/m20.py refers to blob") && report.contains("stored in shard 000001, which its manifest does not list"), "{report}");
    std::fs::write(&path, text).unwrap();
    // a manifest naming another shard 1 (another corpus's) is reported
    let path = w.corpus().join("shards/000002/manifest.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(&want, &"0".repeat(40))).unwrap();
    let out = w.run(&["verify"]);
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && report.contains(&format!("was sealed with shard 000001 of info-hash {}, but the shard 000001 here is {want}", "0".repeat(40))), "{report}");
}

/// Frames decoded by a `grep --stats` (its summary line on stderr).
fn frames_decoded(w: &World, args: &[&str]) -> u64 {
    let mut all = vec!["grep", "--stats"];
    all.extend_from_slice(args);
    let out = w.run(&all);
    let err = String::from_utf8_lossy(&out.stderr);
    let n = err.split("not read), ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.replace(',', "").parse().ok());
    n.unwrap_or_else(|| panic!("{err}"))
}

/// Under format 2 most rows of a later shard use blobs that earlier shards store. Readers
/// read those after every shard's index is scanned, in the order they are stored: each frame
/// is decoded once for the unique readers, and at most twice for the readers of every file
/// (with its own shard's rows, then with the later shards'), not once per shard that uses it.
/// A blob that more files hold than one call takes is handed over again with the rest.
#[test]
fn each_frame_is_decoded_once_whatever_the_number_of_shards_using_it() {
    let w = corpus(2);
    // 7 shards of a few kB: one frame each
    let shards = 7;
    assert_eq!(manifests(&w).len(), shards);
    assert!(frames_decoded(&w, &["-c", "shared_value"]) <= shards as u64);
    let all_paths = frames_decoded(&w, &["-c", "--all-paths", "shared_value"]);
    assert!(all_paths <= 2 * shards as u64, "{all_paths} frames decoded for {shards}");
    // Every file reported once, with the contents of its own blob.
    let rows = w.rows(&["--ext", "py"]);
    let streamed: Vec<serde_json::Value> = w.ok(&["stream", "--ext", "py", "--format", "jsonl"]).lines().map(json).collect();
    assert_eq!(streamed.len(), rows.len());
    let paths: std::collections::BTreeSet<&str> = streamed.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), rows.len());
    let m12: Vec<&serde_json::Value> = streamed.iter().filter(|r| r["path"].as_str().unwrap().ends_with("/p/m12.py")).collect();
    assert_eq!(m12.len(), 6);
    assert!(m12.iter().all(|r| r["contents"].as_str().unwrap().starts_with("shared_value = 12\n")), "m12 is never edited");
    let m0: Vec<&str> = streamed.iter().filter(|r| r["path"].as_str().unwrap().ends_with("/p/m0.py")).map(|r| r["contents"].as_str().unwrap()).collect();
    assert_eq!(m0.iter().filter(|c| c.starts_with("shared_value")).count(), 1, "edited from 1.1 on: {m0:?}");

    // One blob in 5,000 files of a later shard (more than one call takes), stored in shard 8.
    let mut e = sdist_entries("many", "1.0", "");
    e.push(f("many-1.0/one.py", b"same_text = 1\n"));
    w.write("many-1.0.tar.gz", &tar_gz(&e));
    w.ok(&["add", "in/many-1.0.tar.gz", "--uploaded-on", "2024-06-01"]);
    w.ok(&["seal"]);
    let mut e = sdist_entries("many", "2.0", "");
    for i in 0..5000 {
        e.push(f(&format!("many-2.0/copies/c{i}.py"), b"same_text = 1\n"));
    }
    w.write("many-2.0.tar.gz", &tar_gz(&e));
    w.ok(&["add", "in/many-2.0.tar.gz", "--uploaded-on", "2024-06-02"]);
    w.ok(&["seal"]);
    let out = w.ok(&["grep", "-l", "--all-paths", "same_text"]);
    let listed: std::collections::BTreeSet<&str> = out.lines().collect();
    assert_eq!((out.lines().count(), listed.len()), (5001, 5001));
    let want = w.rows(&["--project", "many", "--ext", "py"]).len();
    assert!(want > 5001);
    assert_eq!(w.ok(&["stream", "--project", "many", "--ext", "py", "--format", "jsonl"]).lines().count(), want);
    // unique readers: one blob
    assert_eq!(w.ok(&["grep", "-l", "same_text"]).lines().count(), 1);

    // A 10 kB blob in 3,000 files of a later shard: 30 MB of contents counted once per file,
    // more than one call (4 MiB) or one unit of work (12 MiB) takes. The files go over
    // several calls and units, each unit decoding the frame again; each file once.
    let body: String = (0..200).map(|i| format!("big_marker_{i:04} = {i} * 2  # a line of padding text\n")).collect();
    assert!(body.len() > 10_000);
    let mut e = sdist_entries("big", "1.0", "");
    e.push(f("big-1.0/one.py", body.as_bytes()));
    w.write("big-1.0.tar.gz", &tar_gz(&e));
    w.ok(&["add", "in/big-1.0.tar.gz", "--uploaded-on", "2024-07-01"]);
    w.ok(&["seal"]);
    let mut e = sdist_entries("big", "2.0", "");
    for i in 0..3000 {
        e.push(f(&format!("big-2.0/copies/c{i}.py"), body.as_bytes()));
    }
    w.write("big-2.0.tar.gz", &tar_gz(&e));
    w.ok(&["add", "in/big-2.0.tar.gz", "--uploaded-on", "2024-07-02"]);
    w.ok(&["seal"]);
    let streamed: Vec<serde_json::Value> = w.ok(&["stream", "--project", "big", "--ext", "py", "--format", "jsonl"]).lines().map(json).collect();
    assert_eq!(streamed.len(), w.rows(&["--project", "big", "--ext", "py"]).len());
    let copies: std::collections::BTreeSet<&str> = streamed.iter().filter(|r| r["contents"].as_str() == Some(body.as_str())).map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(copies.len(), 3001);
    assert_eq!(w.ok(&["grep", "-l", "--all-paths", "big_marker_0199", "--project", "big"]).lines().count(), 3001);
    let decoded = frames_decoded(&w, &["-c", "--all-paths", "big_marker_0199", "--project", "big"]);
    assert!(decoded >= 3, "30 MB of contents over units of 12 MiB: {decoded} frame decodes");
}

/// `verify` checks where each blob is stored one pack at a time against the blob index: a
/// run that names the wrong shard, and a format-2 shard repeating an earlier shard's blob,
/// are both reported.
#[test]
fn verify_reports_a_lying_blob_index_and_a_repeated_blob() {
    use pycorpus_store::{PackReader, RunWriter};
    let verify_text = |w: &World| {
        let out = w.run(&["verify"]);
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    // The run of shard 7 (q's release) lies about its blobs: a lower shard that stores none of
    // them, a higher one, or none at all.
    let v2 = corpus(2);
    let run = v2.corpus().join("blobs/000007-000007.run");
    let pack = PackReader::open(&v2.corpus().join("shards/000007")).unwrap();
    for (named, says) in [(Some(6), "but the index says 000006, which does not store it"), (Some(8), "but the index says 000008 (the index"), (None, "but the index names no shard")] {
        std::fs::remove_file(&run).unwrap();
        let mut lie = RunWriter::create(&run, &[(7, pack.len() as u64)], pack.len() as u64).unwrap();
        for i in 0..pack.len() {
            if let Some(n) = named {
                lie.push(&pack.entry_at(i).0, n).unwrap();
            }
        }
        lie.finish().unwrap();
        let (ok, text) = verify_text(&v2);
        assert!(!ok && text.contains(&format!("is stored in shard 000007 {says}")), "{named:?}: {text}");
    }
    // An index that names no shard for the 40-odd blobs of shards 1 to 4: 20 are reported.
    let run = v2.corpus().join("blobs/000001-000004.run");
    let covered: Vec<(u32, u64)> = (1..=4).map(|n| (n, PackReader::open(&v2.corpus().join(format!("shards/{n:06}"))).unwrap().len() as u64)).collect();
    assert!(covered.iter().map(|c| c.1).sum::<u64>() > 20, "{covered:?}");
    std::fs::remove_file(&run).unwrap();
    RunWriter::create(&run, &covered, 0).unwrap().finish().unwrap();
    let (ok, text) = verify_text(&v2);
    assert!(!ok && text.matches("but the index names no shard").count() == 20, "{text}");
    // Rebuilt from the packs, the index is right again.
    std::fs::remove_dir_all(v2.corpus().join("blobs")).unwrap();
    v2.ok(&["seal"]);
    assert!(verify_text(&v2).0);

    // Standalone shards repeat each other's blobs, which is their format; a shard that says it
    // is format 2 (it names the shards it depends on) must not.
    let v1 = corpus(1);
    assert!(verify_text(&v1).0);
    let path = v1.corpus().join("shards/000002/manifest.json");
    let mut m = json(&std::fs::read_to_string(&path).unwrap());
    m["depends_on"] = serde_json::json!([1]);
    std::fs::write(&path, serde_json::to_string(&m).unwrap()).unwrap();
    let (ok, text) = verify_text(&v1);
    assert!(!ok && text.contains("is stored in shards [1, 2]: a format-2 shard stores only blobs that no earlier shard stores"), "{text}");
}

/// Every answer's lines sorted: the order blobs are stored in differs between formats 2 and 3
/// (a format-3 pack puts its deltas after the blobs stored whole).
fn sorted(answers: Vec<String>) -> Vec<String> {
    answers
        .into_iter()
        .map(|a| {
            let mut lines: Vec<&str> = a.lines().collect();
            lines.sort_unstable();
            lines.join("\n")
        })
        .collect()
}

fn pack_bytes(w: &World) -> u64 {
    manifests(w).iter().map(|m| m["pack_bytes"].as_u64().unwrap()).sum()
}

#[test]
fn format_3_stores_new_versions_as_deltas_and_every_reader_answers_the_same() {
    let (v2, v3) = (corpus(2), corpus(3));
    same(&sorted(answers(&v3)), &sorted(answers(&v2)));
    let ms = manifests(&v3);
    assert!(ms.iter().all(|m| m["format_version"] == 3), "{ms:?}");
    // p 1.1 changes eight blobs of 1.0, each with an earlier version (the same path, the
    // sdist's top folder aside, in shard 1): all deltas; the same blobs stored, fewer bytes
    let idx = std::fs::read(v3.corpus().join("shards/000002/blobs.idx")).unwrap();
    assert_eq!(&idx[..8], b"PYCIDX\x00\x02", "shard 2 has delta frames");
    assert_eq!(u64::from_le_bytes(idx[24..32].try_into().unwrap()), 8, "delta frames of shard 2");
    let (m2, m3) = (manifest(&v2, "000002"), manifest(&v3, "000002"));
    assert_eq!((m3["unique_blobs"].clone(), m3["depends_on"].clone()), (m2["unique_blobs"].clone(), m2["depends_on"].clone()));
    let (b2, b3) = (pack_bytes(&v2), pack_bytes(&v3));
    assert!(b3 < b2, "format 3 packs {b3} bytes, format 2 {b2}");
    let out = v3.run(&["verify"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // a chain of deltas over six shards reads back whole: m0 changes in every release
    assert!(v3.ok(&["cat", "p", "1.5", "p/m0.py"]).starts_with("# edited in 0\nshared_value = 0\n"));

    // Reading every blob, each delta's base is at hand (decoded after its chain's root); one
    // shard's share (a cluster task) reads its deltas' bases through the corpus, and says so.
    let stats = |args: &[&str]| String::from_utf8_lossy(&v3.run(args).stderr).into_owned();
    for args in [&["grep", "--stats", "-F", "shared_value"][..], &["grep", "--stats", "-c", "--all-paths", "shared_value"], &["stream", "--stats", "--ext", "py", "--format", "raw"]] {
        let err = stats(args);
        assert!(err.contains("scan:") && !err.contains("read through the corpus"), "{args:?}: {err}");
    }
    let err = stats(&["grep", "--stats", "--shard", "6", "-F", "shared_value"]);
    assert!(err.contains("delta base(s) read through the corpus"), "{err}");

    // The history index (where each file's latest version is) is derived: runs merged like a
    // binary counter, rebuilt on the next write when lost or damaged.
    let runs = |w: &World| {
        let mut r: Vec<String> = std::fs::read_dir(w.corpus().join("history")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        r.sort();
        r
    };
    let want = ["000001-000004.hrun", "000005-000006.hrun", "000007-000007.hrun"];
    assert_eq!(runs(&v3), want);
    std::fs::remove_dir_all(v3.corpus().join("history")).unwrap();
    v3.ok(&["seal"]);
    assert_eq!(runs(&v3), want);
    std::fs::write(v3.corpus().join("history/000007-000007.hrun"), b"PYCHRUN\x01 damaged").unwrap();
    v3.ok(&["seal"]);
    assert_eq!(runs(&v3), want);
    assert!(std::fs::read(v3.corpus().join("history/000007-000007.hrun")).unwrap().len() > 1000);
    // and with it, a new release is a delta of the latest
    let mut e = sdist_entries("p", "1.6", "");
    for k in 0..30 {
        let body = format!(
            "# edited in 6\nshared_value = {k}\ndef f{k}(x):\n    \"\"\"Multiply the number by {k} and add one to the product.\"\"\"\n    y = x * {k}\n    return y + 1\n{}",
            "# padding line\n".repeat(k)
        );
        e.push(f(&format!("p-1.6/p/m{k}.py"), body.as_bytes()));
    }
    v3.write("p-1.6.tar.gz", &tar_gz(&e));
    v3.ok(&["add", "in/p-1.6.tar.gz", "--uploaded-on", "2024-05-02"]);
    v3.ok(&["seal"]);
    let idx = std::fs::read(v3.corpus().join("shards/000008/blobs.idx")).unwrap();
    assert!(u64::from_le_bytes(idx[24..32].try_into().unwrap()) >= 30, "the 30 edited modules are deltas");

    // A damaged delta frame: verify names it (the pack's sha256 too), readers fail clearly.
    let pack = v3.corpus().join("shards/000006/blobs.pack");
    let mut data = std::fs::read(&pack).unwrap();
    let n = data.len();
    data[n - 5] ^= 0x5a;
    std::fs::write(&pack, &data).unwrap();
    let out = v3.run(&["verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && text.contains("shard 000006: frame ") && text.contains("blobs.pack: sha256"), "{text}");
    let out = v3.run(&["stream", "--ext", "py", "--format", "raw"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("shard") && !err.contains("panicked"), "{err}");
    std::fs::write(&pack, {
        data[n - 5] ^= 0x5a;
        &data
    })
    .unwrap();

    // A delta table whose chain record lies (depth one more): verify says so.
    let idx_path = v3.corpus().join("shards/000005/blobs.idx");
    let mut idx = std::fs::read(&idx_path).unwrap();
    let at = idx.len() - 44 + 36;
    idx[at] += 1;
    std::fs::write(&idx_path, &idx).unwrap();
    let out = v3.run(&["verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success() && text.contains("shard 000005: delta frame ") && text.contains("its base gives"), "{text}");
}

/// Over several shards a blob is handed over once, with its first selected file in index
/// order, whichever shard selects it first: a later shard than the one storing it when the
/// storing shard's file is not selected (another extension), the storing shard's otherwise;
/// and with a memory budget so small that the cross-shard plan spills, the answers are the
/// same.
#[test]
fn a_blob_is_handed_over_once_with_its_first_selected_file_whichever_shard_selects_it() {
    let w = corpus(3);
    // shard 8 holds a blob as `notes.txt`; shard 9 holds it as `r/late.py` (its first `.py`
    // file) beside a module of p 1.0 (shard 1's) under another name
    let body = "LATE_BODY = 'first selected in a later shard than the one storing it'\n";
    let mut e = sdist_entries("n", "1.0", "");
    e.push(f("n-1.0/notes.txt", body.as_bytes()));
    w.write("n-1.0.tar.gz", &tar_gz(&e));
    let m29 = w.ok(&["cat", "p", "1.0", "p/m29.py"]);
    let mut e = sdist_entries("r", "1.0", "");
    e.push(f("r-1.0/r/late.py", body.as_bytes()));
    e.push(f("r-1.0/r/again.py", m29.as_bytes()));
    w.write("r-1.0.tar.gz", &tar_gz(&e));
    for n in ["n-1.0.tar.gz", "r-1.0.tar.gz"] {
        w.ok(&["add", &format!("in/{n}"), "--uploaded-on", "2024-05-03"]);
        w.ok(&["seal"]);
    }
    let rows = w.rows(&["--project", "r"]);
    let oid_of = |end: &str| rows.iter().find(|r| r["path"].as_str().unwrap().ends_with(end)).map(|r| r["hash"].as_str().unwrap().to_string()).unwrap();
    let (late, again) = (oid_of("r/late.py"), oid_of("r/again.py"));
    assert_eq!(w.ok(&["cat", &late]), body);

    let extracted = |w: &World, args: &[&str]| {
        let dest = w.corpus().join(format!("x{}", args.len()));
        let _ = std::fs::remove_dir_all(&dest);
        let mut a = vec!["extract", dest.to_str().unwrap()];
        a.extend_from_slice(args);
        w.ok(&a);
        let mut names: Vec<String> = walk(&dest).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let py = extracted(&w, &["--ext", "py"]);
    let all = extracted(&w, &[]);
    // once each, named after the first file selected
    assert_eq!(py.iter().filter(|n| n.starts_with(&late)).collect::<Vec<_>>(), [&format!("{late}.late.py")]);
    assert_eq!(all.iter().filter(|n| n.starts_with(&late)).collect::<Vec<_>>(), [&format!("{late}.notes.txt")]);
    assert_eq!(py.iter().filter(|n| n.starts_with(&again)).collect::<Vec<_>>(), [&format!("{again}.m29.py")]);
    let unique_py: std::collections::BTreeSet<String> = w.rows(&["--ext", "py"]).iter().map(|r| r["hash"].as_str().unwrap().to_string()).collect();
    assert_eq!(py.len(), unique_py.len());

    // every delta is read after its chain's root: no base read through the corpus
    let out = w.run(&["stream", "--stats", "--ext", "py", "--format", "raw"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !err.contains("read through the corpus"), "{err}");
    let raw = out.stdout;

    // with the cross-shard plan spilled to disk, the same answers
    let cfg = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    w.set_config(&set_toml_key(&cfg, "memory_budget_bytes", "65536"));
    assert_eq!(extracted(&w, &["--ext", "py"]), py);
    assert_eq!(extracted(&w, &[]), all);
    let small = w.run(&["stream", "--ext", "py", "--format", "raw"]);
    assert!(small.status.success());
    let records = |raw: &[u8]| {
        let mut out = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let nl = i + raw[i..].iter().position(|&b| b == b'\n').unwrap();
            let head = String::from_utf8_lossy(&raw[i..nl]).into_owned();
            let size: usize = head.rsplit(' ').next().unwrap().parse().unwrap();
            out.push((head, raw[nl + 1..nl + 1 + size].to_vec()));
            i = nl + 1 + size + 1;
        }
        out.sort();
        out
    };
    let (a, b) = (records(&raw), records(&small.stdout));
    assert_eq!(a.len(), unique_py.len());
    assert!(a == b, "stream answers differ with a small budget");
}

/// Delta frames of shard `n` (the count in its `blobs.idx` header; 0 for an index without
/// deltas).
fn delta_frames(w: &World, n: u32) -> u64 {
    let idx = std::fs::read(w.corpus().join(format!("shards/{n:06}/blobs.idx"))).unwrap();
    match &idx[..8] {
        b"PYCIDX\x00\x02" => u64::from_le_bytes(idx[24..32].try_into().unwrap()),
        _ => 0,
    }
}

/// A chain of deltas stops at 50 (`MAX_CHAIN`): the 51st new version of a file is stored whole
/// and the next one starts a new chain on it; every version reads back and verifies.
#[test]
fn a_delta_chain_stops_at_fifty_and_the_next_version_starts_a_new_one() {
    let w = World::new();
    w.ok(&["init"]);
    let body = |v: usize| format!("VERSION = {v}\n{}", "def f(x):\n    return x * 2 + 1\n".repeat(40));
    for v in 0..53 {
        let version = format!("1.{v}");
        let mut e = sdist_entries("c", &version, "");
        e.push(f(&format!("c-{version}/c/mod.py"), body(v).as_bytes()));
        let name = format!("c-{version}.tar.gz");
        w.write(&name, &tar_gz(&e));
        w.ok(&["add", &format!("in/{name}"), "--uploaded-on", "2024-05-01"]);
        w.ok(&["seal"]);
    }
    // shard 1 holds version 0 whole; shards 2-51 a delta each (depth 1-50); shard 52 would be
    // depth 51: whole; shard 53 a delta of it
    assert_eq!(delta_frames(&w, 1), 0);
    assert!((2..=51).all(|n| delta_frames(&w, n) >= 1), "{:?}", (2..=51).map(|n| delta_frames(&w, n)).collect::<Vec<_>>());
    assert_eq!(delta_frames(&w, 52), 0, "the 51st new version is stored whole");
    assert!(delta_frames(&w, 53) >= 1, "the next version starts a new chain");
    for v in [50, 51, 52] {
        assert_eq!(w.ok(&["cat", "c", &format!("1.{v}"), "c/mod.py"]), body(v));
    }
    let out = w.run(&["verify"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
