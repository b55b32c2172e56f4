//! The memory budget changes where readers keep what they remember across shards (blob ids
//! visited, how many files hold each blob, blobs analysed), never what they answer: a corpus
//! of many shards sharing blobs gives the same output with the default budget and with one
//! so small that every set spills to disk.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;

/// Outputs of every reader that crosses shards, in a fixed order.
fn answers(w: &World) -> Vec<String> {
    let runs: &[&[&str]] = &[
        &["grep", "-F", "shared_value"],
        &["grep", "--json", "def f[0-9]+"],
        &["grep", "-c", "--all-paths", "unique_to"],
        &["stream", "--ext", "py", "--format", "jsonl"],
        &["stream", "--ext", "py", "--format", "raw"],
        &["ls", "--unique", "--format", "jsonl"],
    ];
    runs.iter().map(|a| w.ok(a)).collect()
}

#[test]
fn a_spilling_budget_changes_no_answer() {
    let w = World::new();
    for i in 0..8 {
        let mut e = sdist_entries(&format!("b{i}"), "1.0", "");
        for k in 0..40 {
            // pairs of distributions share their modules; each holds one of its own
            let body = format!("shared_value = {k}\ndef f{k}(x):\n    return x + {}\n", i / 2);
            e.push(f(&format!("b{i}-1.0/m{k}.py"), body.as_bytes()));
        }
        e.push(f(&format!("b{i}-1.0/own.py"), format!("unique_to = {i}\n").as_bytes()));
        w.write(&format!("b{i}-1.0.tar.gz"), &tar_gz(&e));
    }
    w.ok(&["init"]);
    let cfg = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    let small_shards = cfg.replace("shard_capacity_files = ", "shard_capacity_files = 90 #");
    assert_ne!(small_shards, cfg, "corpus.toml has shard_capacity_files");
    w.set_config(&small_shards);
    w.ok(&["add", "in", "--jobs", "1"]);
    w.ok(&["seal"]);
    let status: serde_json::Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).unwrap();
    assert!(status["shards"].as_array().unwrap().len() >= 4, "{status}");

    let with_default = answers(&w);
    let analyzed = |w: &World| -> serde_json::Value {
        let _ = std::fs::remove_dir_all(w.corpus().join("analysis"));
        serde_json::from_str(&w.ok(&["analyze", "--json"])).unwrap()
    };
    let first = analyzed(&w);
    let budget = set_toml_key(&small_shards, "memory_budget_bytes", "64");
    w.set_config(&budget);
    let with_tiny = answers(&w);
    for (a, b) in with_default.iter().zip(&with_tiny) {
        assert_eq!(a, b);
    }
    // a budget that keeps the files of a few waiting blobs as they are and codes the rest
    w.set_config(&set_toml_key(&small_shards, "memory_budget_bytes", "65536"));
    for (a, b) in with_default.iter().zip(&answers(&w)) {
        assert_eq!(a, b);
    }
    w.set_config(&budget);
    assert!(with_default[0].contains("shared_value"), "{}", with_default[0]);
    let again = analyzed(&w);
    assert_eq!(first["analyzed"], again["analyzed"], "{first} {again}");
    // 4 pairs x 40 shared modules + 8 own modules + the sdists' setup.py files
    assert!(again["analyzed"].as_u64().unwrap() >= 168, "{again}");
    // a second run knows every blob from the spilled set
    let third: serde_json::Value = serde_json::from_str(&w.ok(&["analyze", "--json"])).unwrap();
    assert_eq!((third["analyzed"].as_u64(), third["known"].as_u64()), (Some(0), again["analyzed"].as_u64()), "{third}");
    let tmp: Vec<_> = std::fs::read_dir(w.corpus().join("tmp")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(tmp.is_empty(), "spilled tables are removed: {tmp:?}");
}
