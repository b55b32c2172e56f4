//! `torrent create`, `seed` and `get`: what they print, over pycorpus-torrent and
//! pycorpus-share.

use crate::cli::{CreateArgs, GetArgs, SeedArgs};
use crate::commands::{CANCEL, STOPPING, flag_name, install_interrupt_handler};
use crate::output::human_bytes;
use anyhow::{Context, Result};
use pycorpus_share::{Event, Fetched, ShareError};
use pycorpus_torrent::{GetOptions, Metainfo, Progress, Request, Swarm, TorrentError};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
    let opts = a.spec.build();
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
    let targets = if a.targets.is_empty() { pycorpus_share::sealed_shards(corpus_root)? } else { a.targets.clone() };
    install_interrupt_handler(quiet, STOPPING);
    let swarm = Swarm::start(&a.spec.swarm(&flag_name)?)?;
    let opts = a.spec.metainfo();
    let mut seeding = Vec::new();
    for t in &targets {
        let (meta, torrent, root) =
            pycorpus_torrent::seed_target(&swarm, t, a.spec.data.as_deref(), &opts, &a.spec.trackers, a.spec.torrent_dir.as_deref()).with_context(|| format!("seeding {}", t.display()))?;
        if a.json {
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
    if a.json {
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
        if a.json {
            writeln!(out, "{}", json!({"event": "stopped", "info_hash": meta.hex(), "uploaded_bytes": st.uploaded_bytes}))?;
        } else {
            writeln!(out, "stopped {}: {} uploaded", meta.hex(), human_bytes(st.uploaded_bytes))?;
        }
    }
    swarm.stop();
    Ok(ExitCode::SUCCESS)
}

/// `get`: the torrent asked for, then (for a shard) a line per shard it depends on, fetched too
/// with `--with-deps`.
pub fn get(a: &GetArgs, corpus_root: &Path, quiet: bool, out: &mut impl Write) -> Result<ExitCode> {
    let request = Request::parse(&a.what)?;
    let corpus = a.output.is_none().then_some(corpus_root);
    let dest = match &a.output {
        Some(d) => d.clone(),
        None => pycorpus_share::corpus_datastore(corpus_root)?,
    };
    let opts = a.spec.build(dest, &flag_name)?;
    install_interrupt_handler(quiet, STOPPING);
    let json = a.json;
    let bar = progress_bar(quiet || json);
    let on_progress = progress_printer(&bar, json);
    let mut on_event = |e: Event<'_>| tell(&e, a.spec.with_deps, corpus_root, json, quiet, out);
    let got = pycorpus_share::get(&request, &opts, corpus, a.spec.with_deps, &mut on_event, &on_progress, &CANCEL);
    bar.finish_and_clear();
    let summary = match got {
        Err(ShareError::Torrent(TorrentError::Interrupted)) => {
            eprintln!("interrupted: verified pieces are kept; run the same command again to resume");
            return Ok(ExitCode::from(130));
        }
        r => r?,
    };
    if !summary.missing.is_empty() && !json && !quiet {
        let names: Vec<String> = summary.missing.iter().map(|n| format!("{n:06}")).collect();
        eprintln!("readers of these rows stop at blobs of the missing shard(s) {}: fetch them (`--with-deps`) first", names.join(", "));
    }
    out.flush()?;
    if a.seed {
        seed_fetched(&opts, &summary.fetched[0].meta, json, quiet, out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The transfer's bar (hidden when quiet or printing JSON).
fn progress_bar(hidden: bool) -> indicatif::ProgressBar {
    let bar = if hidden { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(indicatif::ProgressStyle::with_template("{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}").expect("valid template").progress_chars("=> "));
    bar
}

/// Shows a transfer's progress on `bar`, or with `json` as JSON lines on stderr five times a
/// second at most.
fn progress_printer(bar: &indicatif::ProgressBar, json: bool) -> impl Fn(&Progress) + Sync + '_ {
    let last_json = std::sync::Mutex::new(Instant::now() - Duration::from_secs(1));
    move |p: &Progress| {
        if json {
            let mut last = last_json.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= Duration::from_millis(200) {
                *last = Instant::now();
                eprintln!("{}", json!({"event": "progress", "phase": p.phase, "done": p.done, "total": p.total}));
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
    }
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

/// Says what a `get` did: JSON lines, or lines on stderr and each fetched path on stdout.
fn tell(e: &Event<'_>, with_deps: bool, corpus_root: &Path, json: bool, quiet: bool, out: &mut dyn Write) -> std::io::Result<()> {
    match *e {
        Event::Fetched(f) => tell_fetched(f, corpus_root, json, quiet, out),
        Event::DependsOn { of, shard, info_hash, present, .. } => {
            if json {
                writeln!(out, "{}", json!({"event": "depends_on", "of": of, "shard": shard, "info_hash": info_hash, "present": present}))
            } else {
                if !quiet {
                    let what = match (present, info_hash) {
                        (true, _) => "present".to_string(),
                        (false, Some(h)) if with_deps => format!("fetching {h}"),
                        (false, Some(h)) => format!("missing: fetch it with `pycorpus get {h}` (or --with-deps)"),
                        (false, None) => "missing, and the manifest names no info-hash for it".to_string(),
                    };
                    eprintln!("{} uses blobs stored in shard {shard:06}: {what}", of.display());
                }
                Ok(())
            }
        }
    }
}

/// Says what one fetch did: a JSON line, or a line on stderr and the path on stdout.
fn tell_fetched(f: &Fetched, corpus_root: &Path, json: bool, quiet: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let Fetched { report, meta, registered } = f;
    if json {
        let mut v = serde_json::to_value(report).map_err(std::io::Error::other)?;
        v["event"] = json!("done");
        v["registered_distributions"] = json!(registered);
        return writeln!(out, "{v}");
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
    writeln!(out, "{}", report.path.display())
}
