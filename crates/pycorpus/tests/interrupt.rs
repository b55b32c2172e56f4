//! Ctrl-C and cancellation of `seal`, `verify` and `torrent create`: each stops within a second,
//! exits 130, and leaves nothing half-written (the open shard stays open; no `.sealing`
//! folder; no `.torrent` file).

mod common;
use common::*;
use pycorpus_core::{Access, CoreError, Corpus, Ctx, NoReporter, Reporter};
use rand::{Rng, SeedableRng};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `n` sdists of 40 modules of random code each (~600 KB per sdist, little shared).
fn make_inputs(w: &World, n: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for i in 0..n {
        let top = format!("proj{i}-1.0");
        let mut entries = vec![f(&format!("{top}/PKG-INFO"), &pkg_info(&format!("proj{i}"), "1.0"))];
        for j in 0..40 {
            let body: String = (0..300).map(|k| format!("def f_{k}(x):\n    return x * {} + {}\n", rng.random_range(0..1_000_000), rng.random_range(0..1_000_000))).collect();
            entries.push(f(&format!("{top}/pkg/mod{j}.py"), body.as_bytes()));
        }
        w.write(&format!("proj{i}-1.0.tar.gz"), &tar_gz(&entries));
    }
}

/// Sends SIGINT to `child` and returns its exit code and how long it took to exit.
fn interrupt(child: Child) -> (Option<i32>, Duration, String) {
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill -INT");
    assert!(sent.success());
    let t = Instant::now();
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), t.elapsed(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Waits until `cond` holds (checked every 5 ms), for at most 60 s.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ctrl_c_during_seal_stops_within_a_second_and_leaves_the_shard_open() {
    let w = World::new();
    make_inputs(&w, 30);
    w.ok(&["init"]);
    // zstd's slowest levels: the seal takes long enough to be interrupted mid-pack
    let config = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    w.set_config(&set_toml_key(&config, "pack_level", "19"));
    w.ok(&["add", "in"]);
    let rows_before = w.rows(&[]).len();
    let open = w.corpus().join("shards/000001.open");
    let sealing = w.corpus().join("shards/000001.sealing");
    assert!(open.is_dir());

    let child = w.cmd().args(["seal"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    wait_for("the pack to be written", || sealing.join("blobs.pack").exists());
    let (code, took, stderr) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!sealing.exists(), "the shard being written is removed");
    assert!(!w.corpus().join("shards/000001").exists(), "no sealed shard appeared");
    assert!(open.is_dir(), "the open shard stays");
    assert!(w.ok(&["verify"]).starts_with("ok:"));

    // the next seal completes: every row is there
    w.set_config(&set_toml_key(&config, "pack_level", "3"));
    w.ok(&["seal"]);
    assert!(!open.exists() && w.corpus().join("shards/000001").is_dir());
    assert_eq!(w.rows(&[]).len(), rows_before);
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}

#[test]
fn ctrl_c_during_torrent_create_stops_within_a_second_and_writes_nothing() {
    let w = World::new();
    // 32 GiB of a sparse file: hashing it takes many seconds, storing it nothing
    let big = w.root().join("big.bin");
    std::fs::File::create(&big).unwrap().set_len(32 << 30).unwrap();
    let torrent = w.root().join("big.torrent");
    let child = w.cmd().args(["torrent", "create"]).arg(&big).arg("-o").arg(&torrent).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(500));
    let (code, took, stderr) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(w.root()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.contains("torrent")).collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

/// Sets the flag at the first progress it gets.
struct CancelAtFirstAdvance<'a>(&'a AtomicBool);
impl Reporter for CancelAtFirstAdvance<'_> {
    fn advance(&self, _items: u64, _bytes: u64) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn verify_and_seal_stop_when_cancelled_and_seal_leaves_nothing_behind() {
    let w = World::new();
    make_inputs(&w, 4);
    w.ok(&["init"]);
    for i in 0..2 {
        let one = w.root().join(format!("in{i}"));
        std::fs::create_dir_all(&one).unwrap();
        for j in [i * 2, i * 2 + 1] {
            let name = format!("proj{j}-1.0.tar.gz");
            std::fs::rename(w.input().join(&name), one.join(&name)).unwrap();
        }
        w.ok(&["add", one.to_str().unwrap()]);
        w.ok(&["seal"]);
    }
    // verify: stopped after its first shard
    let corpus = Corpus::open(&w.corpus(), Access::Read).unwrap();
    let flag = AtomicBool::new(false);
    let r = corpus.verify(Ctx::new(&CancelAtFirstAdvance(&flag), &flag));
    assert!(matches!(r, Err(CoreError::Cancelled(_))), "{r:?}");
    let flag = AtomicBool::new(false);
    assert!(corpus.verify(Ctx::new(&NoReporter, &flag)).unwrap().ok());
    drop(corpus);

    // seal: stopped at its first blob, the open shard as it was, no .sealing folder
    make_inputs_named(&w, "late");
    w.ok(&["add", "in"]);
    let mut corpus = Corpus::open(&w.corpus(), Access::Write).unwrap();
    let flag = AtomicBool::new(false);
    let r = corpus.seal(Ctx::new(&CancelAtFirstAdvance(&flag), &flag));
    assert!(matches!(r, Err(CoreError::Cancelled(_))), "{r:?}");
    let shards: Vec<String> = std::fs::read_dir(w.corpus().join("shards")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(shards.iter().any(|s| s.ends_with(".open")) && !shards.iter().any(|s| s.contains("sealing")), "{shards:?}");
    let flag = AtomicBool::new(false);
    assert!(corpus.seal(Ctx::new(&NoReporter, &flag)).unwrap().is_some());
    drop(corpus);
    assert!(w.ok(&["verify"]).starts_with("ok:"));
}

/// One more sdist, `NAME-1.0.tar.gz`, in `in/`.
fn make_inputs_named(w: &World, name: &str) {
    let top = format!("{name}-1.0");
    let entries = vec![f(&format!("{top}/PKG-INFO"), &pkg_info(name, "1.0")), f(&format!("{top}/{name}/core.py"), format!("NAME = {name:?}\n").as_bytes())];
    w.write(&format!("{name}-1.0.tar.gz"), &tar_gz(&entries));
}
