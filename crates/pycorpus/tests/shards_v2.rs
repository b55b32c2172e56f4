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
            let body = format!("{edit}shared_value = {k}\ndef f{k}(x):\n    return x * {k} + 1\n{}", "# padding line\n".repeat(k));
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
    let cfg = cfg.replace("shard_format = 2", &format!("shard_format = {format}"));
    assert!(cfg.contains(&format!("shard_format = {format}")), "{cfg}");
    w.set_config(&cfg);
    for n in names {
        w.ok(&["add", &format!("in/{n}"), "--uploaded-on", "2024-05-01"]);
        w.ok(&["seal"]);
    }
    w
}

/// Outputs of every reader. Readers of every file (`--all-paths`, `stream`) visit each shard on
/// its own, in the order its blobs are stored, which the format changes: those are compared
/// as sorted lines. Readers of unique blobs (`grep`) claim each blob in the first shard whose
/// rows hold it, which stores it: their output is the same byte for byte.
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
    runs.iter()
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
        .collect()
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
    let distinct: std::collections::BTreeSet<String> =
        v2.rows(&[]).iter().filter(|r| r["skip_reason"].is_null()).map(|r| r["hash"].as_str().unwrap().to_string()).collect();
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
