//! `torrent create`, `seed` and `get`: wiring between the CLI, the corpus and pycorpus-torrent.

use crate::cli::{CreateArgs, GetArgs, SeedArgs, SwarmArgs};
use crate::commands::{CANCEL, STOPPING, install_interrupt_handler};
use crate::output::human_bytes;
use anyhow::{Context, Result, bail};
use pycorpus_core::{Access, Corpus, ShardKind};
use pycorpus_torrent::magnet::Magnet;
use pycorpus_torrent::{CreateOptions, GetOptions, GetReport, Metainfo, Progress, Request, Swarm, SwarmOptions, TorrentError};
use serde_json::json;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// `2M` -> 2,000,000 bytes per second.
fn parse_rate(s: &str) -> Result<u32> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'm' | 'M')) => (&t[..i], 1e6),
        Some((i, 'g' | 'G')) => (&t[..i], 1e9),
        _ => (t, 1.0),
    };
    let v: f64 = num.parse().with_context(|| format!("{s:?} is not a rate in bytes per second (e.g. 500k, 2M)"))?;
    let bytes = v * mult;
    if !(1.0..=u32::MAX as f64).contains(&bytes) {
        bail!("rate {s:?} is outside 1 byte/s .. 4 GB/s");
    }
    Ok(bytes as u32)
}

fn swarm_options(a: &SwarmArgs, listen: Option<&str>) -> Result<SwarmOptions> {
    let listen = listen.map(|l| l.parse::<SocketAddr>().with_context(|| format!("--listen: {l:?} is not IP:PORT"))).transpose()?;
    Ok(SwarmOptions {
        listen,
        announce_port: a.announce_port,
        dht: !a.no_dht,
        upload_limit: a.upload_limit.as_deref().map(parse_rate).transpose().context("--upload-limit")?,
        download_limit: a.download_limit.as_deref().map(parse_rate).transpose().context("--download-limit")?,
    })
}

fn describe(meta: &Metainfo) -> serde_json::Value {
    json!({
        "info_hash": meta.hex(),
        "name": meta.name,
        "magnet": meta.magnet(),
        "total_bytes": meta.total_length(),
        "files": meta.layout.files.len(),
        "piece_length": meta.layout.piece_length,
        "pieces": meta.pieces.len(),
        "trackers": meta.trackers,
        "webseeds": meta.webseeds,
    })
}

/// `torrent create`: Ctrl-C stops the hashing within a piece per thread, and nothing is written.
pub fn create(a: &CreateArgs, reporter: &dyn pycorpus_core::Reporter, quiet: bool, out: &mut impl Write) -> Result<ExitCode> {
    let opts = CreateOptions { trackers: a.tracker.clone(), webseeds: a.webseed.clone(), creation_date: a.creation_date.then(|| jiff::Timestamp::now().as_second()), piece_length: a.piece_length };
    install_interrupt_handler(quiet, STOPPING);
    let meta = pycorpus_torrent::create(&a.target, &opts, pycorpus_core::Ctx::new(reporter, &CANCEL))?;
    let path = a.output.clone().unwrap_or_else(|| PathBuf::from(format!("{}.torrent", meta.name)));
    pycorpus_torrent::write_file_atomic(&path, &meta.bytes)?;
    if a.json {
        let mut v = describe(&meta);
        v["torrent"] = json!(path);
        writeln!(out, "{v}")?;
    } else {
        writeln!(out, "{}", path.display())?;
        writeln!(out, "  info-hash  {}", meta.hex())?;
        writeln!(out, "  content    {} in {} files, {} pieces of {}", human_bytes(meta.total_length()), meta.layout.files.len(), meta.pieces.len(), human_bytes(meta.layout.piece_length))?;
        writeln!(out, "  magnet     {}", meta.magnet())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `seed`: adds every target, checks each is complete, then serves until Ctrl-C.
pub fn seed(a: &SeedArgs, corpus_root: &Path, quiet: bool, out: &mut impl Write) -> Result<ExitCode> {
    let targets: Vec<PathBuf> = if a.targets.is_empty() {
        let corpus = Corpus::open(corpus_root, Access::Read)?;
        let sealed: Vec<PathBuf> = corpus.shards()?.into_iter().filter(|s| s.kind == ShardKind::Sealed).map(|s| s.dir).collect();
        if sealed.is_empty() {
            bail!("{} has no sealed shard to seed (run `pycorpus seal`, or name what to seed)", corpus_root.display());
        }
        sealed
    } else {
        a.targets.clone()
    };
    install_interrupt_handler(quiet, STOPPING);
    let swarm = Swarm::start(&swarm_options(&a.swarm, Some(&a.listen))?)?;
    let opts = CreateOptions { webseeds: a.webseed.clone(), ..Default::default() };
    let mut seeding = Vec::new();
    for t in &targets {
        let (meta, torrent, root) =
            pycorpus_torrent::seed_target(&swarm, t, a.data.as_deref(), &opts, &a.swarm.tracker, a.torrent_dir.as_deref()).with_context(|| format!("seeding {}", t.display()))?;
        if a.swarm.json {
            let mut v = describe(&meta);
            v["event"] = json!("seeding");
            v["path"] = json!(root);
            writeln!(out, "{v}")?;
        } else {
            writeln!(out, "seeding {}  {}  ({})", meta.hex(), root.display(), human_bytes(meta.total_length()))?;
        }
        seeding.push((meta, torrent));
    }
    let addr = swarm.listen_addr().map(|a| a.to_string()).unwrap_or_default();
    if a.swarm.json {
        writeln!(out, "{}", json!({"event": "listening", "addr": addr, "torrents": seeding.len()}))?;
    } else {
        writeln!(out, "listening on {addr}; Ctrl-C to stop")?;
    }
    out.flush()?;
    let bar = crate::commands::spinner(quiet, "seeding", "{spinner} {prefix} {msg}");
    while !CANCEL.load(Ordering::Relaxed) {
        let up: u64 = seeding.iter().map(|(_, t)| swarm.stats(t).uploaded_bytes).sum();
        bar.set_message(format!("{} torrents, {} uploaded", seeding.len(), human_bytes(up)));
        std::thread::sleep(Duration::from_millis(200));
    }
    bar.finish_and_clear();
    for (meta, t) in &seeding {
        let st = swarm.stats(t);
        if a.swarm.json {
            writeln!(out, "{}", json!({"event": "stopped", "info_hash": meta.hex(), "uploaded_bytes": st.uploaded_bytes}))?;
        } else {
            writeln!(out, "stopped {}: {} uploaded", meta.hex(), human_bytes(st.uploaded_bytes))?;
        }
    }
    swarm.stop();
    Ok(ExitCode::SUCCESS)
}

/// Refuses a torrent that cannot land in the corpus as shard NAME.
fn accept_shard(meta: &Metainfo, shards: &Path) -> Result<(), TorrentError> {
    let refuse = |why: String| Err(TorrentError::Invalid(format!("{} ({}) cannot go into the corpus: {why}; fetch it with -o DIR instead", meta.name, meta.hex())));
    if meta.layout.single_file || !meta.layout.files.iter().any(|f| f.path == Path::new("manifest.json")) {
        return refuse("it is not a pycorpus shard (no manifest.json at its top)".into());
    }
    if meta.name.len() != 6 || !meta.name.bytes().all(|b| b.is_ascii_digit()) {
        return refuse("a shard's name is its six-digit number".into());
    }
    if shards.join(format!("{}.open", meta.name)).exists() {
        return refuse(format!("the corpus is filling its own shard {} (seal it, or fetch into another corpus)", meta.name));
    }
    Ok(())
}

/// `get`: the torrent asked for, then (for a shard) a line per shard it depends on, fetched too
/// with `--with-deps`.
pub fn get(a: &GetArgs, corpus_root: &Path, quiet: bool, out: &mut impl Write) -> Result<ExitCode> {
    let request = Request::parse(&a.what)?;
    let into_corpus = a.output.is_none();
    let dest = match &a.output {
        Some(d) => d.clone(),
        None => {
            let corpus = Corpus::init(corpus_root)?;
            corpus.root().join("shards")
        }
    };
    let opts = get_options(a, dest.clone())?;
    install_interrupt_handler(quiet, STOPPING);
    let json = a.swarm.json;

    let Some((report, meta)) = fetch(&request, &opts, into_corpus, json, quiet)? else { return Ok(ExitCode::from(130)) };
    let registered = if into_corpus { Some(register(corpus_root, &meta, &report.path)?) } else { None };
    tell_fetched(&report, &meta, registered, corpus_root, json, quiet, out)?;

    let Some(missing) = get_dependencies(a, &request, &opts, (&report, &meta), corpus_root, quiet, out)? else { return Ok(ExitCode::from(130)) };
    if !missing.is_empty() && !json && !quiet {
        let names: Vec<String> = missing.iter().map(|n| format!("{n:06}")).collect();
        eprintln!("readers of these rows stop at blobs of the missing shard(s) {}: fetch them (`--with-deps`) first", names.join(", "));
    }
    out.flush()?;
    if a.seed {
        seed_fetched(&opts, &meta, json, quiet, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `get`'s flags as the torrent crate's options, downloading into `dest`.
fn get_options(a: &GetArgs, dest: PathBuf) -> Result<GetOptions> {
    let mut opts = GetOptions::new(dest);
    opts.peers = a.peer.clone();
    opts.trackers = a.swarm.tracker.clone();
    opts.webseeds = a.webseed.clone();
    opts.catalogs = a.catalog.clone();
    opts.verify = a.verify;
    opts.swarm = swarm_options(&a.swarm, a.listen.as_deref())?;
    opts.webseed.connections = a.webseed_connections.max(1);
    opts.webseed_after = Duration::from_secs(a.webseed_after);
    opts.stall_timeout = Duration::from_secs(a.stall_timeout);
    opts.metadata_timeout = Duration::from_secs(a.metadata_timeout);
    Ok(opts)
}

/// The shards whose blobs the fetched shard's rows use (format 2), and theirs in turn: each
/// reported, and with `--with-deps` fetched from the sources the first came from. Returns the
/// shards still missing (`None`: interrupted).
fn get_dependencies(a: &GetArgs, request: &Request, opts: &GetOptions, (report, meta): (&GetReport, &Metainfo), corpus_root: &Path, quiet: bool, out: &mut impl Write) -> Result<Option<Vec<u32>>> {
    let (into_corpus, json) = (a.output.is_none(), a.swarm.json);
    let sources = match request {
        Request::Hash(m) => Magnet { trackers: m.trackers.clone(), webseeds: m.webseeds.clone(), peers: m.peers.clone(), ..Default::default() },
        Request::File(_) => Magnet::default(),
    };
    let mut todo = vec![(report.path.clone(), meta.webseeds.clone())];
    let mut seen = BTreeSet::new();
    let mut missing = Vec::new();
    while let Some((dir, webseeds)) = todo.pop() {
        for dep in dependencies(&dir)? {
            if !seen.insert(dep.shard) {
                continue;
            }
            let path = opts.dest.join(format!("{:06}", dep.shard));
            let present = path.join("manifest.json").is_file();
            if json {
                writeln!(out, "{}", json!({"event": "depends_on", "of": dir, "shard": dep.shard, "info_hash": dep.info_hash, "present": present}))?;
            } else if !quiet {
                let what = match (present, &dep.info_hash) {
                    (true, _) => "present".to_string(),
                    (false, Some(h)) if a.with_deps => format!("fetching {h}"),
                    (false, Some(h)) => format!("missing: fetch it with `pycorpus get {h}` (or --with-deps)"),
                    (false, None) => "missing, and the manifest names no info-hash for it".to_string(),
                };
                eprintln!("{} uses blobs stored in shard {:06}: {what}", dir.display(), dep.shard);
            }
            if present {
                // it may have come without its own dependencies
                todo.push((path, Vec::new()));
                continue;
            }
            let Some(hash) = dep.info_hash.as_deref().filter(|_| a.with_deps) else {
                missing.push(dep.shard);
                continue;
            };
            let info_hash = pycorpus_torrent::magnet::parse_hash(hash).with_context(|| format!("{}/manifest.json: {hash:?} is not an info-hash", dir.display()))?;
            let mut m = Magnet { info_hash, name: Some(format!("{:06}", dep.shard)), ..sources.clone() };
            m.webseeds.extend(webseeds.iter().filter(|w| !m.webseeds.contains(w)).cloned().collect::<Vec<_>>());
            let Some((dreport, dmeta)) = fetch(&Request::Hash(m), opts, into_corpus, json, quiet)? else { return Ok(None) };
            if dmeta.name != format!("{:06}", dep.shard) {
                bail!("{} names {hash} as shard {:06}, but that torrent is {:?}", dir.display(), dep.shard, dmeta.name);
            }
            let registered = if into_corpus { Some(register(corpus_root, &dmeta, &dreport.path)?) } else { None };
            tell_fetched(&dreport, &dmeta, registered, corpus_root, json, quiet, out)?;
            todo.push((dreport.path.clone(), dmeta.webseeds.clone()));
        }
    }
    Ok(Some(missing))
}

/// `get --seed`: serves what was fetched until Ctrl-C.
fn seed_fetched(opts: &GetOptions, meta: &Metainfo, json: bool, quiet: bool, out: &mut impl Write) -> Result<()> {
    let mut sopts = opts.swarm.clone();
    if sopts.listen.is_none() {
        sopts.listen = Some("0.0.0.0:0".parse().expect("address"));
    }
    let swarm = Swarm::start(&sopts)?;
    let root = pycorpus_torrent::get::content_root(meta, &opts.dest);
    let t = swarm.add(meta, &root, &[], &opts.trackers)?;
    let addr = swarm.listen_addr().map(|a| a.to_string()).unwrap_or_default();
    if json {
        writeln!(out, "{}", json!({"event": "listening", "addr": addr, "torrents": 1}))?;
    } else if !quiet {
        eprintln!("seeding on {addr}; Ctrl-C to stop");
    }
    out.flush()?;
    while !CANCEL.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let up = swarm.stats(&t).uploaded_bytes;
    if !quiet && !json {
        eprintln!("stopped: {} uploaded", human_bytes(up));
    }
    swarm.stop();
    Ok(())
}

/// Fetches one torrent into `opts.dest` with a progress bar (or JSON progress lines on
/// stderr); `None` when interrupted.
fn fetch(request: &Request, opts: &GetOptions, into_corpus: bool, json: bool, quiet: bool) -> Result<Option<(GetReport, Metainfo)>> {
    let bar = if quiet || json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(indicatif::ProgressStyle::with_template("{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}").expect("valid template").progress_chars("=> "));
    let last_json = std::sync::Mutex::new(Instant::now() - Duration::from_secs(1));
    let on_progress = |p: &Progress| {
        if json {
            let mut last = last_json.lock().expect("progress");
            if last.elapsed() >= Duration::from_millis(200) {
                *last = Instant::now();
                let line = json!({"event": "progress", "phase": p.phase, "done": p.done, "total": p.total});
                eprintln!("{line}");
            }
        } else {
            bar.set_prefix(match p.phase {
                pycorpus_torrent::Phase::Checking => "checking",
                pycorpus_torrent::Phase::Metadata => "metainfo",
                pycorpus_torrent::Phase::Peers => "peers",
                pycorpus_torrent::Phase::WebSeeds => "web seeds",
            });
            bar.set_length(p.total);
            bar.set_position(p.done);
        }
    };
    let accept = |m: &Metainfo| if into_corpus { accept_shard(m, &opts.dest) } else { Ok(()) };
    let result = pycorpus_torrent::get(request, opts, &accept, &on_progress, &CANCEL);
    bar.finish_and_clear();
    match result {
        Ok(r) => Ok(Some(r)),
        Err(TorrentError::Interrupted) => {
            eprintln!("interrupted: verified pieces are kept; run the same command again to resume");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Says what one fetch did: a JSON line, or a line on stderr and the path on stdout.
fn tell_fetched(report: &GetReport, meta: &Metainfo, registered: Option<u64>, corpus_root: &Path, json: bool, quiet: bool, out: &mut impl Write) -> Result<()> {
    if json {
        let mut v = serde_json::to_value(report)?;
        v["event"] = json!("done");
        v["registered_distributions"] = json!(registered);
        writeln!(out, "{v}")?;
        return Ok(());
    }
    if !quiet {
        let how = if report.from_datastore {
            format!("already in the datastore{}", if report.verified { ", every piece re-checked" } else { "" })
        } else {
            format!(
                "{} in {:.1} s: {} from peers, {} from web seeds, {} resumed{}",
                human_bytes(report.total_bytes),
                report.seconds,
                human_bytes(report.peer_bytes),
                human_bytes(report.webseed_bytes),
                human_bytes(report.resumed_bytes),
                if report.discarded_bytes > 0 { format!(", {} discarded (bad pieces)", human_bytes(report.discarded_bytes)) } else { String::new() }
            )
        };
        eprintln!("{} {}: {how}", meta.hex(), meta.name);
        for (url, why) in &report.banned_webseeds {
            eprintln!("  web seed dropped: {url}: {why}");
        }
        if let Some(n) = registered {
            eprintln!("registered shard {} in {} ({n} distributions)", meta.name, corpus_root.display());
        }
    }
    writeln!(out, "{}", report.path.display())?;
    Ok(())
}

/// A shard a fetched shard's rows use blobs of.
struct Dependency {
    shard: u32,
    info_hash: Option<String>,
}

/// The shards the shard fetched into `dir` depends on (none when it is not a shard, or a
/// format-1 one).
fn dependencies(dir: &Path) -> Result<Vec<Dependency>> {
    let Ok(text) = std::fs::read(dir.join("manifest.json")) else { return Ok(Vec::new()) };
    let Ok(m) = serde_json::from_slice::<pycorpus_core::Manifest>(&text) else { return Ok(Vec::new()) };
    let hashes = m.depends_on_info_hash.unwrap_or_default();
    Ok(m.depends_on.unwrap_or_default().into_iter().map(|shard| Dependency { shard, info_hash: hashes.get(&format!("{shard:06}")).cloned() }).collect())
}

/// Makes a fetched shard part of the corpus: its manifest must name the same shard, then the
/// corpus's state takes in its releases.
fn register(corpus_root: &Path, meta: &Metainfo, path: &Path) -> Result<u64> {
    let text = std::fs::read(path.join("manifest.json")).with_context(|| format!("reading {}/manifest.json", path.display()))?;
    let m: pycorpus_core::Manifest = serde_json::from_slice(&text).with_context(|| format!("{}/manifest.json is not a shard manifest", path.display()))?;
    if format!("{:06}", m.shard) != meta.name {
        bail!("{}: the manifest says shard {:06}, the torrent's name is {}", path.display(), m.shard, meta.name);
    }
    // Opening for writing reconciles state.sqlite with the shards, loading the new one.
    let corpus = Corpus::open(corpus_root, Access::Write)?;
    drop(corpus);
    Ok(m.distributions)
}
