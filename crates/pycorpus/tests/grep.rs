//! `grep` agrees with ripgrep run over the same unique blobs written to disk, for every flag,
//! on a corpus with a sealed shard and an open one; output order is fixed; exit codes follow
//! grep's convention.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const WORDS: &[&str] = &["def", "return", "self", "None", "import", "os", "café", "CAFÉ", "value", "x", "frobnicate", "(", ")", ":", "=", "+", "Return", "returned"];

/// Python-ish text: random lines of words, some indented, with `def name(args):` headers.
fn text(rng: &mut rand::rngs::StdRng, lines: usize) -> String {
    let mut s = String::new();
    for _ in 0..lines {
        if rng.random_bool(0.15) {
            s.push_str(&format!("def f{}(self, v{}=None):\n", rng.random_range(0..50), rng.random_range(0..5)));
            continue;
        }
        if rng.random_bool(0.5) {
            s.push_str("    ");
        }
        let n = rng.random_range(0..8);
        let words: Vec<&str> = (0..n).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
        s.push_str(&words.join(" "));
        s.push('\n');
    }
    s
}

/// Two batches: the first sealed, the second left in the open shard. Files are shared
/// between releases (deduplicated), and a few are awkward: no final newline, CRLF, a NUL byte
/// after the first KiB (stored, as only a NUL in the first KiB makes a file binary).
fn build() -> World {
    let w = World::new();
    w.ok(&["init"]);
    // small frames, so that the trigram index has frames to rule out
    let cfg = std::fs::read_to_string(w.corpus().join("corpus.toml")).unwrap();
    assert!(cfg.contains("pack_frame_bytes = 6291456"), "{cfg}");
    w.set_config(&cfg.replace("pack_frame_bytes = 6291456", "pack_frame_bytes = 2048"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let shared = text(&mut rng, 40);
    for (batch, projects) in [(0, ["alpha", "beta"]), (1, ["gamma", "alpha"])] {
        for (i, p) in projects.iter().enumerate() {
            let version = format!("{}.{i}", batch + 1);
            let top = format!("{p}-{version}");
            let mut entries = sdist_entries(p, &version, "");
            entries.push(f(&format!("{top}/{p}/shared.py"), shared.as_bytes()));
            for k in 0..6 {
                entries.push(f(&format!("{top}/{p}/m{k}.py"), text(&mut rng, 30 + k * 40).as_bytes()));
            }
            entries.push(f(&format!("{top}/{p}/nonl.py"), b"x = 1\nreturn x"));
            if *p == "beta" {
                entries.push(f(&format!("{top}/{p}/rare.py"), b"# one file only\nXylophone_quartz = 1\n"));
            }
            entries.push(f(&format!("{top}/{p}/crlf.py"), b"def g(self):\r\n    return None\r\n"));
            let mut nul = text(&mut rng, 60).into_bytes();
            nul.extend_from_slice(b"\0return after the nul\n");
            nul.extend_from_slice(text(&mut rng, 5).as_bytes());
            entries.push(f(&format!("{top}/{p}/nul.py"), &nul));
            w.write(&format!("{top}.tar.gz"), &tar_gz(&entries));
        }
        w.ok(&["add", w.input().to_str().unwrap()]);
        if batch == 0 {
            w.ok(&["seal"]);
        }
    }
    w
}

/// Every stored blob written as `<dir>/<oid>.py`, for ripgrep.
fn extract_for_rg(w: &World, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut seen = BTreeSet::new();
    for row in w.rows(&["--skip-reason", "none"]) {
        let oid = row["hash"].as_str().unwrap().to_string();
        if seen.insert(oid.clone()) {
            let o = w.cmd().args(["cat", &oid]).output().unwrap();
            assert!(o.status.success());
            std::fs::write(dir.join(format!("{oid}.py")), &o.stdout).unwrap();
        }
    }
}

type Line = (String, String, u64, String); // oid, kind, line number, text

fn rg_lines(dir: &Path, args: &[&str]) -> BTreeSet<Line> {
    let o = Command::new("rg").args(["-uu", "--json"]).args(args).arg(dir).output().expect("ripgrep (rg) must be installed: scripts/test.sh installs it");
    let mut out = BTreeSet::new();
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let kind = v["type"].as_str().unwrap();
        if kind != "match" && kind != "context" {
            continue;
        }
        let path = v["data"]["path"]["text"].as_str().unwrap();
        let oid = Path::new(path).file_stem().unwrap().to_str().unwrap().to_string();
        out.insert((oid, kind.to_string(), v["data"]["line_number"].as_u64().unwrap(), v["data"]["lines"]["text"].as_str().unwrap().to_string()));
    }
    out
}

fn our_lines(w: &World, args: &[&str]) -> BTreeSet<Line> {
    let mut a = vec!["grep", "--json"];
    a.extend_from_slice(args);
    let o = w.run(&a);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["oid"].as_str().unwrap().into(), v["type"].as_str().unwrap().into(), v["line_number"].as_u64().unwrap(), v["text"].as_str().unwrap().into())
        })
        .collect()
}

#[test]
fn agrees_with_ripgrep_on_every_flag() {
    let w = build();
    let dir = w.root().join("rg");
    extract_for_rg(&w, &dir);
    let st: Value = serde_json::from_str(&w.ok(&["status", "--format", "jsonl"])).unwrap();
    assert_eq!(st["shards"].as_array().unwrap().len(), 2, "a sealed shard and an open one");
    let patterns = ["return", r"def \w+\(self, v[0-3]=None\)", "café", "^    return", "None$", "frobnicate", "zzz_never_there", r"\bx\b", "xylophone_quartz", "(Xylophone|marimba)_qu"];
    let flag_sets: [&[&str]; 10] = [&[], &["-i"], &["-w"], &["-v"], &["-F"], &["-m", "2"], &["-C", "1"], &["-A", "2"], &["-B", "1"], &["-i", "-w", "-C", "2"]];
    // (-m with context is left out: ripgrep 13, Debian's, prints matching lines of the trailing
    // context after the last counted match as matches; ripgrep 14 and grep-searcher print them
    // as context, as we do.)
    let mut compared = 0;
    for p in patterns {
        for flags in flag_sets {
            let mut args: Vec<&str> = flags.to_vec();
            args.push(p);
            let want = rg_lines(&dir, &args);
            let got = our_lines(&w, &args);
            let only_ours: Vec<&Line> = got.difference(&want).take(5).collect();
            let only_rg: Vec<&Line> = want.difference(&got).take(5).collect();
            assert!(only_ours.is_empty() && only_rg.is_empty(), "pattern {p:?} flags {flags:?}: only ours {only_ours:?}; only ripgrep's {only_rg:?}");
            compared += want.len();
        }
    }
    assert!(compared > 5000, "the comparison must cover many lines: {compared}");

    // -l and -c: the same blobs, the same counts
    for p in ["return", "café", r"def \w+"] {
        let o = Command::new("rg").args(["-uu", "-c", p]).arg(&dir).output().unwrap();
        let want: BTreeMap<String, u64> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (path, n) = l.rsplit_once(':').unwrap();
                (Path::new(path).file_stem().unwrap().to_str().unwrap().to_string(), n.parse().unwrap())
            })
            .collect();
        let got: BTreeMap<String, u64> = w
            .ok(&["grep", "--json", "-c", p])
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["oid"].as_str().unwrap().to_string(), v["count"].as_u64().unwrap())
            })
            .collect();
        assert_eq!(got, want, "-c {p:?}");
        let files: BTreeSet<String> = w.ok(&["grep", "--json", "-l", p]).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["oid"].as_str().unwrap().to_string()).collect();
        assert_eq!(files, want.keys().cloned().collect(), "-l {p:?}");
    }
}

#[test]
fn paths_order_filters_and_exit_codes() {
    let w = build();
    // shared.py is in four releases: one line per match, with [+3]; --all-paths shows all four
    let lines = w.ok(&["grep", "-F", "frobnicate", "--path", "*/shared.py"]);
    assert!(!lines.is_empty());
    for l in lines.lines() {
        assert!(l.starts_with("packages/") && l.contains("/shared.py[+3]:"), "{l}");
    }
    let all = w.ok(&["grep", "-F", "frobnicate", "--path", "*/shared.py", "--all-paths"]);
    assert_eq!(all.lines().count(), 4 * lines.lines().count());
    let projects: BTreeSet<&str> = all.lines().map(|l| l.split('/').nth(1).unwrap()).collect();
    assert_eq!(projects, BTreeSet::from(["alpha", "beta", "gamma"]));
    // filters narrow the blobs searched
    let only_gamma = w.ok(&["grep", "return", "--project", "gamma", "-l"]);
    assert!(!only_gamma.is_empty() && only_gamma.lines().all(|l| l.starts_with("packages/gamma/")), "{only_gamma}");
    // the same output whatever the thread count
    let one = w.ok(&["grep", "-C", "1", "return", "--threads", "1"]);
    let two = w.ok(&["grep", "-C", "1", "return", "--threads", "3"]);
    assert_eq!(one, two);
    assert!(!one.starts_with("--"));
    // exit codes: 0 match, 1 none, 2 error
    assert_eq!(w.run(&["grep", "return"]).status.code(), Some(0));
    assert_eq!(w.run(&["grep", "zzz_never_there"]).status.code(), Some(1));
    let bad = w.run(&["grep", "(unclosed"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid pattern"), "{}", String::from_utf8_lossy(&bad.stderr));
    // the trigram index rules frames out, and only where it may: a rare literal, with -i too
    for args in [&["grep", "Xylophone_quartz", "--stats"][..], &["grep", "-i", "XYLOPHONE_QUARTZ", "--stats"][..], &["grep", r"(Xylophone|marimba)_quartz", "--stats"][..]] {
        let o = w.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        let ruled_out: u64 = err.split(" ruled out by the trigram indexes").next().unwrap().rsplit(' ').next().unwrap().replace(',', "").parse().unwrap();
        let skipped: u64 = err.split(" frame(s) not read").next().unwrap().rsplit('(').next().unwrap().replace(',', "").parse().unwrap();
        assert!(ruled_out > 0 && skipped > 0, "{err}");
        // every sealed shard has a search index: the scan read only the candidates' rows
        assert!(err.contains("search index: ") && err.contains("candidate blob(s) in the sealed shards"), "{err}");
        assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1, "{args:?}");
    }
    let o = w.run(&["grep", "-v", "Xylophone_quartz", "--stats"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains(" 0 ruled out by the trigram indexes (0 frame(s) not read)"), "-v reads every frame");
    // --stats reports what was touched
    let o = w.run(&["grep", "return", "--project", "beta", "--stats"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("candidate blob(s)") && err.contains("row group(s) skipped"), "{err}");
    // a damaged trigram index only costs speed: grep falls back to the frames of grams.idx,
    // then reads every frame; verify reports both
    let want = w.ok(&["grep", "Xylophone_quartz"]);
    let damage = |name: &str| {
        let path = w.corpus().join("shards/000001").join(name);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
    };
    let stats = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let postings = std::fs::read(w.corpus().join("shards/000001/postings.idx")).unwrap();
    damage("postings.idx");
    let o = w.run(&["grep", "Xylophone_quartz", "--stats"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    assert!(!stats(&o).contains(" (0 frame(s) not read)"), "grams.idx still rules frames out: {}", stats(&o));
    damage("grams.idx");
    let o = w.run(&["grep", "Xylophone_quartz", "--stats"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    assert!(stats(&o).contains(" 0 ruled out by the trigram indexes (0 frame(s) not read)"), "{}", stats(&o));
    // rows.idx: without it, or damaged, the rows of the candidates are found by their hashes
    let rows_idx = w.corpus().join("shards/000001/rows.idx");
    let kept = std::fs::read(&rows_idx).unwrap();
    std::fs::write(w.corpus().join("shards/000001/postings.idx"), &postings).unwrap();
    let o = w.run(&["grep", "Xylophone_quartz", "--stats"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    let located = "located by rows.idx in 1 shard(s)";
    assert!(stats(&o).contains(located), "{}", stats(&o));
    damage("rows.idx");
    let o = w.run(&["grep", "Xylophone_quartz", "--stats"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
    assert!(!stats(&o).contains(located), "every row's hash read: {}", stats(&o));
    let v = w.run(&["verify"]);
    assert!(String::from_utf8_lossy(&v.stdout).contains("rows.idx"), "{}", String::from_utf8_lossy(&v.stdout));
    std::fs::write(&rows_idx, &kept).unwrap();
    std::fs::write(w.corpus().join("shards/000001/grams.idx"), b"PYCGRAM\x01").unwrap();
    std::fs::write(w.corpus().join("shards/000001/postings.idx"), b"PYCPOST\x01").unwrap();
    assert_eq!(w.ok(&["grep", "Xylophone_quartz"]), want);
    let v = w.run(&["verify"]);
    assert_eq!(v.status.code(), Some(1), "{}", String::from_utf8_lossy(&v.stdout));
    assert!(String::from_utf8_lossy(&v.stdout).contains("postings.idx"), "{}", String::from_utf8_lossy(&v.stdout));
    assert!(String::from_utf8_lossy(&v.stdout).contains("grams.idx"), "{}", String::from_utf8_lossy(&v.stdout));
}

/// Shards are skipped by their manifest's upload range; `--stats` shows it; a projects file of
/// prefixes selects the same rows as the equivalent globs.
#[test]
fn date_ranges_skip_shards_and_prefix_files_select() {
    let w = World::new();
    w.ok(&["init"]);
    for (i, day) in ["2021-03-01", "2022-03-01", "2023-03-01"].iter().enumerate() {
        for p in ["django-rest", "djangoish", "flask"] {
            let name = format!("{p}-{i}.0.tar.gz");
            w.write(&name, &tar_gz(&sdist_entries(p, &format!("{i}.0"), "")));
            w.ok(&["add", w.input().join(&name).to_str().unwrap(), "--uploaded-on", day]);
        }
        w.ok(&["seal"]);
    }
    let o = w.run(&["ls", "--since", "2023-01-01", "--format", "jsonl", "--stats"]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("2 of 3 shard(s) skipped"), "{err}");
    let rows: Vec<Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!rows.is_empty() && rows.iter().all(|r| r["uploaded_on"].as_str().unwrap().starts_with("2023-")));
    let o = w.run(&["grep", "return", "--until", "2021-12-31", "--stats", "-c"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 of 3 shard(s) skipped"), "{}", String::from_utf8_lossy(&o.stderr));
    // a projects file of prefixes
    let pf = w.root().join("prefixes.txt");
    std::fs::write(&pf, "# prefixes\ndjango-*\nFlask\n").unwrap();
    let by_file: BTreeSet<String> = w.rows(&["--projects-file", pf.to_str().unwrap()]).iter().map(|r| r["project_name"].as_str().unwrap().to_string()).collect();
    assert_eq!(by_file, BTreeSet::from(["django-rest".to_string(), "flask".to_string()]));
}

/// The visit's progress, as bars show it: positions only grow, and blobs read plus blobs passed
/// over (in frames the trigram index rules out) end at the selection's bytes.
#[test]
fn progress_ends_at_the_selections_bytes_with_frames_ruled_out() {
    let w = build();
    let corpus = pycorpus_core::Corpus::open(&w.corpus(), pycorpus_core::Access::Read).unwrap();
    let filter = pycorpus_catalog::Filter::default();
    // a pattern with no trigram rules nothing out
    for (pattern, passes_some) in [("Xylophone_quartz", true), (r"\w+", false)] {
        let opts = pycorpus_explore::GrepOptions { pattern: pattern.into(), json: true, ..Default::default() };
        /// Keeps every (done, total) the visit reports.
        #[derive(Default)]
        struct Seen(std::sync::Mutex<Vec<(u64, u64)>>);
        impl pycorpus_core::Reporter for Seen {
            fn progress(&self, done: u64, total: Option<u64>) {
                self.0.lock().unwrap().push((done, total.expect("the visit knows its total")));
            }
        }
        let seen = Seen::default();
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let stats = pycorpus_explore::grep(&corpus, &filter, &opts, &mut Vec::new(), pycorpus_core::Ctx::new(&seen, &cancel)).unwrap();
        let seen = seen.0.into_inner().unwrap();
        let last = seen.last().unwrap();
        let v = &stats.visit;
        assert_eq!(*last, (v.bytes_read + v.bytes_passed, v.candidate_bytes), "{pattern}");
        assert_eq!(v.bytes_read + v.bytes_passed, v.candidate_bytes, "{pattern}: {v:?}");
        assert!(v.candidate_bytes > 0 && (v.bytes_passed > 0) == passes_some && (v.frames_skipped > 0) == passes_some, "{pattern}: {v:?}");
        let done: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert!(done.windows(2).all(|p| p[0] <= p[1]) && seen.iter().all(|s| s.0 <= s.1), "{pattern}: {done:?}");
        // two shards: the total grows as each is scanned
        assert!(seen.iter().map(|s| s.1).collect::<std::collections::BTreeSet<_>>().len() >= 2, "{pattern}");
    }
}

/// A frame cache (a server's) changes nothing in the results: searches through one, large or
/// too small for the corpus, find what searches without one find; a second search of a
/// corpus that fits decodes no frame, and the cache never holds more than its budget.
#[test]
fn searches_through_a_frame_cache_find_the_same() {
    let w = build();
    let corpus = pycorpus_core::Corpus::open(&w.corpus(), pycorpus_core::Access::Read).unwrap();
    let filter = pycorpus_catalog::Filter::default();
    let run = |pattern: &str, cache: Option<&std::sync::Arc<pycorpus_visit::FrameCache>>| {
        let opts = pycorpus_explore::GrepOptions { pattern: pattern.into(), json: true, frame_cache: cache.cloned(), ..Default::default() };
        let mut out = Vec::new();
        let stats = pycorpus_explore::grep(&corpus, &filter, &opts, &mut out, pycorpus_core::Ctx::quiet()).unwrap();
        (String::from_utf8(out).unwrap(), stats.visit)
    };
    let big = std::sync::Arc::new(pycorpus_visit::FrameCache::new(64 << 20));
    // frames are 2 KiB here (see build): a budget of three
    let small = std::sync::Arc::new(pycorpus_visit::FrameCache::new(3 * 2048 + 100));
    for pattern in [r"\w+", "return", "Xylophone_quartz", "café", r"def f\d+\(self"] {
        let (want, plain) = run(pattern, None);
        assert!(plain.frames_decoded > 0, "{pattern}");
        let (first, _) = run(pattern, Some(&big));
        let (second, again) = run(pattern, Some(&big));
        assert_eq!((&first, &second), (&want, &want), "{pattern}");
        assert_eq!(again.frames_decoded, 0, "{pattern}: every frame came from the cache: {again:?}");
        for _ in 0..3 {
            assert_eq!(run(pattern, Some(&small)).0, want, "{pattern}");
            assert!(small.stats().bytes <= 3 * 2048 + 100, "{:?}", small.stats());
        }
    }
    let s = big.stats();
    assert!(s.hits > 0 && s.misses > 0 && s.bytes > 0, "{s:?}");
    assert!(small.stats().frames <= 3 && small.stats().hits > 0, "{:?}", small.stats());
}
