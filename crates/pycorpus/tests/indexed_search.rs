//! Indexed search finds exactly what a full scan finds: for random regexes (literals, classes,
//! alternations, repetitions, anchors, word and case-insensitive matching, fixed strings),
//! `grep` over a corpus with its trigram indexes prints byte for byte what it prints over the
//! same corpus without them. The corpus is large enough for `postings.idx` to keep trigrams
//! as "everywhere" (more than 256 units), has two sealed shards (the second with delta
//! frames), an open one, a UTF-16 file and CRLF lines.
#![allow(clippy::unwrap_used)] // tests panic on purpose

mod common;
use common::*;
use pycorpus_catalog::Filter;
use pycorpus_core::{Access, Corpus, Ctx};
use pycorpus_explore::{GrepSpec, OutputMode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

const SYLLABLES: &[&str] = &["fro", "bni", "cat", "qu", "ar", "tz", "ze", "ly", "mon", "ka", "ri", "do", "vex", "ul", "pi", "sto", "re", "gna", "th", "wo", "xi", "ber", "ou", "me", "zz"];

fn ident(rng: &mut StdRng) -> String {
    (0..rng.random_range(1..=4)).map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())]).collect::<Vec<_>>().join(if rng.random_bool(0.3) { "_" } else { "" })
}

/// A Python-ish module of about `bytes` bytes.
fn module(rng: &mut StdRng, bytes: usize) -> String {
    let mut s = String::new();
    while s.len() < bytes {
        let line = match rng.random_range(0..10) {
            0 => format!("import {}\n", ident(rng)),
            1 => format!("def {}(self, {}=None):\n", ident(rng), ident(rng)),
            2 => format!("    return {}.{}({})\n", ident(rng), ident(rng), rng.random_range(0..1000)),
            3 => format!("# {} café {} ÉCOLE\n", ident(rng), ident(rng).to_uppercase()),
            4 => format!("class {}({}):\n", ident(rng), ident(rng)),
            5 => format!("    {} = \"{}\"\n", ident(rng), ident(rng).to_uppercase()),
            _ => format!("    {} = {} + {}\n", ident(rng), ident(rng), rng.random_range(0..99)),
        };
        s.push_str(&line);
    }
    s
}

/// Three batches of sdists, each of new versions of the same projects (most modules edited
/// from one version to the next): the first two sealed, the last open.
fn build() -> World {
    let w = World::new();
    w.ok(&["init"]);
    let mut rng = StdRng::seed_from_u64(29);
    // 22 projects of 14 modules of 14 KB: more than 256 units of 16 KiB in the first shard
    let projects: Vec<String> = (0..22).map(|i| format!("proj{i}")).collect();
    let mut mods: Vec<Vec<String>> = projects.iter().map(|_| (0..14).map(|_| module(&mut rng, 14_000)).collect()).collect();
    for batch in 0..3 {
        let input = w.root().join(format!("in{batch}"));
        std::fs::create_dir_all(&input).unwrap();
        for (p, name) in projects.iter().enumerate() {
            let name = name.as_str();
            let version = format!("1.{batch}");
            let top = format!("{name}-{version}");
            let mut entries = sdist_entries(name, &version, "");
            for (k, m) in mods[p].iter_mut().enumerate() {
                if batch > 0 && rng.random_bool(0.7) {
                    // an edit: a line added in the middle
                    let at = m.match_indices('\n').nth(m.lines().count() / 2).map_or(m.len(), |(i, _)| i + 1);
                    m.insert_str(at, &format!("    {} = {}  # v{batch}\n", ident(&mut rng), ident(&mut rng)));
                }
                entries.push(f(&format!("{top}/{name}/m{k}.py"), m.as_bytes()));
            }
            if p == 0 {
                entries.push(f(&format!("{top}/{name}/crlf.py"), b"def crlf_only(self):\r\n    return frobnicat\r\n"));
                let utf16: Vec<u8> = [0xff, 0xfe].into_iter().chain("hidden_in_utf16 = 1\n".encode_utf16().flat_map(|u| u.to_le_bytes())).collect();
                entries.push(f(&format!("{top}/{name}/wide.py"), &utf16));
            }
            std::fs::write(input.join(format!("{top}.tar.gz")), tar_gz(&entries)).unwrap();
        }
        w.ok(&["add", input.to_str().unwrap()]);
        if batch < 2 {
            w.ok(&["seal"]);
        }
    }
    w
}

/// A random regex over the corpus's vocabulary, or a substring of its text.
fn pattern(rng: &mut StdRng, sample: &str) -> String {
    fn atom(rng: &mut StdRng, sample: &str) -> String {
        match rng.random_range(0..12) {
            0 => r"\w".into(),
            1 => r"\d".into(),
            2 => ".".into(),
            3 => "[a-f]".into(),
            4 => "[Ff]".into(),
            5 => r"\s".into(),
            6 => format!("({}|{})", SYLLABLES[rng.random_range(0..SYLLABLES.len())], SYLLABLES[rng.random_range(0..SYLLABLES.len())]),
            7 | 8 => {
                // a piece of real text (escaped), so that some patterns match
                let chars: Vec<char> = sample.chars().collect();
                let at = rng.random_range(0..chars.len().saturating_sub(10).max(1));
                let s: String = chars[at..(at + rng.random_range(2..9)).min(chars.len())].iter().collect();
                regex_escape(&s)
            }
            _ => SYLLABLES[rng.random_range(0..SYLLABLES.len())].into(),
        }
    }
    let mut branches = Vec::new();
    for _ in 0..rng.random_range(1..=2) {
        let mut b = String::new();
        if rng.random_bool(0.1) {
            b.push('^');
        }
        for _ in 0..rng.random_range(1..=4) {
            let a = atom(rng, sample);
            b.push_str(&a);
            b.push_str(match rng.random_range(0..10) {
                0 => "*",
                1 => "+",
                2 => "?",
                3 => "{1,3}",
                _ => "",
            });
        }
        if rng.random_bool(0.1) {
            b.push('$');
        }
        branches.push(b);
    }
    branches.join("|")
}

fn regex_escape(s: &str) -> String {
    s.chars().flat_map(|c| if r"\.+*?()|[]{}^$#&-~".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

/// What a search's indexes saved: blobs ruled out (of rows scanned), rows read, and the
/// candidates the row scan was narrowed to.
type Saved = (u64, u64, Option<u64>);

/// grep's output (or its error) over `corpus`, and what its indexes saved.
fn grep(corpus: &Path, pattern: &str, spec: &GrepSpec) -> (Result<Vec<u8>, String>, Saved) {
    let corpus = Corpus::open(corpus, Access::Read).unwrap();
    let opts = match spec.build(pattern.to_string(), OutputMode::Lines, false, false) {
        Ok(o) => o,
        Err(e) => return (Err(e.to_string()), (0, 0, None)),
    };
    let mut out = Vec::new();
    match pycorpus_explore::grep(&corpus, &Filter::default(), &opts, &mut out, Ctx::quiet()) {
        Ok(s) => (Ok(out), (s.visit.blobs_ruled_out, s.visit.scan.rows_read, s.index_candidates)),
        Err(e) => (Err(e.to_string()), (0, 0, None)),
    }
}

#[test]
fn indexed_search_finds_exactly_what_a_full_scan_finds() {
    let w = build();
    let indexed = w.corpus();
    // the same corpus without its trigram indexes: every blob of every frame read
    let scan = w.root().join("scan");
    copy_tree(&indexed, &scan);
    let mut removed = 0;
    for shard in std::fs::read_dir(scan.join("shards")).unwrap() {
        for name in ["postings.idx", "grams.idx"] {
            let p = shard.as_ref().unwrap().path().join(name);
            if p.exists() {
                std::fs::remove_file(p).unwrap();
                removed += 1;
            }
        }
    }
    assert_eq!(removed, 4, "two sealed shards, each with both indexes");
    // status reports the index of each sealed shard, none for the open one
    let st: serde_json::Value = serde_json::from_str(w.ok(&["status", "--format", "jsonl"]).trim()).unwrap();
    let sizes: Vec<u64> = st["shards"].as_array().unwrap().iter().map(|s| s["search_index_bytes"].as_u64().unwrap()).collect();
    assert!(sizes.len() == 3 && sizes[0] > 0 && sizes[1] > 0 && sizes[2] == 0, "{st}");
    assert_eq!(st["total"]["search_index_bytes"].as_u64(), Some(sizes.iter().sum()));
    let len = |f: &str| std::fs::metadata(indexed.join("shards/000001").join(f)).unwrap().len();
    assert_eq!(sizes[0], len("postings.idx") + len("rows.idx"));
    assert!(w.ok(&["status"]).contains("search index   "), "the table says it too");
    // the index is large enough to hold "everywhere" trigrams
    let idx = pycorpus_store::PostingsIndex::open(&indexed.join("shards/000001")).unwrap().unwrap();
    assert!(idx.units() > 256, "{} units", idx.units());
    let common = idx.units_with(pycorpus_store::trigram(b'r', b'e', b't')).unwrap();
    assert_eq!(common.len(), idx.units(), "`ret` is everywhere");

    let rows = w.rows(&["--ext", "py"]);
    let sample = w.ok(&["cat", rows[3]["hash"].as_str().unwrap()]);
    let mut rng = StdRng::seed_from_u64(2029);
    let (mut ruled_out, mut matched, mut cases) = (0, 0, 0);
    let mut fixed = ["frobnicat".to_string(), "hidden_in_utf16".into(), "crlf_only(self):".into(), "café".into(), "ÉCOLE".into(), "zzzzzz".into()];
    for i in 0..64 {
        let pat = if i < fixed.len() { std::mem::take(&mut fixed[i]) } else { pattern(&mut rng, &sample) };
        let spec = GrepSpec { ignore_case: rng.random_bool(0.3), fixed_strings: rng.random_bool(0.1), word_regexp: rng.random_bool(0.15), ..Default::default() };
        let (a, (ruled, rows, _)) = grep(&indexed, &pat, &spec);
        let (b, (_, all_rows, _)) = grep(&scan, &pat, &spec);
        assert_eq!(a, b, "pattern {pat:?} with {spec:?}: indexed and full scan differ");
        cases += 1;
        // blobs ruled out after the rows were read, or rows of blobs ruled out never read
        ruled_out += usize::from(ruled > 0 || rows < all_rows);
        matched += usize::from(a.as_ref().is_ok_and(|o| !o.is_empty()));
    }
    // the comparison means something: the index ruled blobs out, and patterns matched
    assert!(ruled_out * 4 >= cases, "the index ruled blobs out in only {ruled_out} of {cases} searches");
    assert!(matched * 4 >= cases, "only {matched} of {cases} patterns matched anything");

    // More candidates than a key set of the memory budget holds (memory_budget_bytes / 64,
    // 40 bytes each): the row scan reads every row instead, with the same answer.
    let spec = GrepSpec::default();
    // the first of these whose candidates (two or more, under an eighth of the blobs) are read
    // row by row
    let (pat, want, n) = ["café", "frobnicat", "hidden_in_utf16", "crlf_only"]
        .into_iter()
        .find_map(|p| match grep(&indexed, p, &spec) {
            (want, (_, _, Some(n))) if n >= 2 => Some((p, want, n)),
            _ => None,
        })
        .expect("a pattern with a few candidates");
    let config = std::fs::read_to_string(indexed.join("corpus.toml")).unwrap();
    let budget = (n as usize - 1) * 40 * 64;
    w.set_config(&set_toml_key(&config, "memory_budget_bytes", &budget.to_string()));
    let (got, (_, _, narrowed)) = grep(&indexed, pat, &spec);
    assert_eq!(narrowed, None, "a budget of {budget} bytes holds {} candidates", n - 1);
    assert_eq!(got, want);
    // A pattern that most blobs may hold: every row's hash is read, not the rows of each
    // candidate (which would cost more), with the same answer as the full scan.
    w.set_config(&config);
    let (got, (_, _, narrowed)) = grep(&indexed, "return", &spec);
    assert_eq!(narrowed, None);
    assert_eq!(got, grep(&scan, "return", &spec).0);
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}
