//! Crash safety: `kill -9` of `add` (and of `seal`) at random points, then a clean re-run,
//! must give exactly the corpus an uninterrupted run gives, and `verify` must pass throughout.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};

/// ~30 sdists sharing some files, enough work that a kill lands mid-ingest.
fn make_inputs(w: &World) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let shared: Vec<u8> = (0..20_000).map(|_| rng.random_range(b'a'..=b'z')).collect();
    for i in 0..30 {
        let top = format!("proj{i}-1.{i}");
        let mut entries = vec![f(&format!("{top}/PKG-INFO"), &pkg_info(&format!("proj{i}"), &format!("1.{i}")))];
        for j in 0..60 {
            let body: String = (0..400).map(|k| format!("def f_{i}_{j}_{k}(x):\n    return x * {}\n", rng.random_range(0..1000))).collect();
            entries.push(f(&format!("{top}/pkg/mod{j}.py"), body.as_bytes()));
        }
        entries.push(f(&format!("{top}/shared.txt"), &shared));
        w.write(&format!("proj{i}-1.{i}.tar.gz"), &tar_gz(&entries));
    }
}

fn sorted_rows(w: &World) -> Vec<String> {
    let mut v: Vec<String> = w.ok(&["ls", "--format", "jsonl"]).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// A fresh corpus per crash point, so that every kill lands while work remains: `add` is
/// killed at a random moment (half the rounds twice), re-run to the end, then checked.
#[test]
fn kill_nine_anywhere_loses_nothing() {
    let reference = World::new();
    make_inputs(&reference);
    let inputs = reference.input();
    let inputs = inputs.to_str().unwrap();
    reference.ok(&["init"]);
    let t = Instant::now();
    reference.ok(&["add", inputs]);
    let full = t.elapsed();
    // runs left by a seal killed mid-way (a process that no longer runs: above Linux's pid
    // limit) are removed by the next seal
    let stale = reference.corpus().join("tmp/sort-4194999-killed");
    std::fs::create_dir_all(&stale).expect("mkdir");
    std::fs::write(stale.join("postings0"), b"a spilled run").expect("write");
    reference.ok(&["seal"]);
    assert!(!stale.exists(), "a killed process's runs are removed");
    let want_rows = sorted_rows(&reference);
    let want_manifest = std::fs::read_to_string(reference.corpus().join("shards/000001/manifest.json")).expect("manifest");

    let seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    eprintln!("crash test seed {seed} (set CRASH_SEED to replay); uninterrupted add took {full:?}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut killed = 0;
    // Rounds continue until at least 20 kills landed mid-way (bounded, so it cannot spin).
    for round in 0..60 {
        if killed >= 20 && round >= 20 {
            break;
        }
        let w = World::new();
        w.ok(&["init"]);
        for _ in 0..(1 + round % 2) {
            let mut child = w.cmd().args(["add", inputs, "--quiet"]).spawn().expect("spawn");
            std::thread::sleep(Duration::from_micros(rng.random_range(0..(full.as_micros() as u64 * 3 / 5).max(1))));
            if child.try_wait().expect("wait").is_none() {
                child.kill().expect("kill -9");
                killed += 1;
            }
            child.wait().expect("reap");
            let v = w.run(&["verify"]);
            assert!(v.status.success(), "round {round} (seed {seed}): verify after kill failed:\n{}", String::from_utf8_lossy(&v.stdout));
        }
        w.ok(&["add", inputs]);
        if round % 4 == 0 {
            // kill the seal too; whenever it finishes, the result must be the same
            let mut child = w.cmd().args(["seal", "--quiet"]).spawn().expect("spawn");
            std::thread::sleep(Duration::from_millis(rng.random_range(0..200)));
            let _ = child.kill();
            child.wait().expect("reap");
        }
        w.ok(&["seal"]);
        assert!(w.ok(&["verify"]).starts_with("ok:"), "round {round} (seed {seed})");
        assert_eq!(sorted_rows(&w), want_rows, "round {round}: index after crashes differs from an uninterrupted run (seed {seed})");
        let got = std::fs::read_to_string(w.corpus().join("shards/000001/manifest.json")).expect("manifest");
        assert_eq!(got, want_manifest, "round {round}: sealed shard must be byte-identical (seed {seed})");
    }
    assert!(killed >= 20, "only {killed} runs were killed mid-way (seed {seed})");
}

/// Ctrl-C (SIGINT): `add` stops after the distributions in flight, says so, exits 130; the
/// same command then adds the rest.
#[test]
fn interrupt_stops_cleanly_and_resumes() {
    let w = World::new();
    make_inputs(&w);
    w.ok(&["init"]);
    let child = w.cmd().args(["add", "in", "--jobs", "1"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(150));
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(sent.success());
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(130) {
        assert!(stdout.contains("run the same command again"), "{stdout}");
    } else {
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr)); // finished first
    }
    assert!(w.ok(&["verify"]).starts_with("ok:"));
    let s: serde_json::Value = serde_json::from_str(&w.ok(&["add", "in", "--json"])).expect("json");
    let st: serde_json::Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).expect("json");
    assert_eq!(st["total"]["distributions"], 30, "{s}");
}

/// Regression (found by CI's crash test): a kill between creating `NNNNNN.open/` and writing the
/// journal header left a folder that read-only commands could not open.
#[test]
fn empty_or_headerless_open_shard_is_just_empty() {
    for journal in [None, Some(&b"PYC"[..])] {
        let w = World::new();
        w.ok(&["init"]);
        let open = w.corpus().join("shards/000001.open");
        std::fs::create_dir_all(&open).unwrap();
        if let Some(bytes) = journal {
            std::fs::write(open.join("journal.log"), bytes).unwrap();
        }
        let v = w.ok(&["verify"]);
        assert!(v.lines().last().unwrap().starts_with("ok:") && v.contains("open and still empty"), "{v}");
        assert_eq!(w.ok(&["ls"]), "");
        assert!(w.ok(&["status"]).contains("distributions  0"));
        assert_eq!(w.run(&["cat", &"0".repeat(40)]).status.code(), Some(1));
        w.write("a-1.0.tar.gz", &tar_gz(&sdist_entries("a", "1.0", "")));
        w.ok(&["add", "in"]);
        assert_eq!(w.rows(&[]).len(), 4);
        w.ok(&["seal"]);
        assert!(w.ok(&["verify"]).starts_with("ok:"));
    }
}
