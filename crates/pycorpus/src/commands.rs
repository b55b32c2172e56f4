//! One function per command: resolve settings, call the library, render the result.

use crate::cli::{Cli, Command, FilterArgs, Format, LayoutArg, StreamFormatArg, SyncArgs};
use crate::output::{csv_field, csv_record, human_bytes, row_json, table, thousands};
use crate::reporters::{BarReporter, VisitBar};
use anyhow::{Context, Result, bail};
use pycorpus_catalog::{FILES_COLUMNS, Filter, ScanStats, parse_date};
use pycorpus_core::{Access, AddOptions, Corpus, Ctx, Status, collect_inputs};
use pycorpus_store::Oid;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Set by the first Ctrl-C: long commands finish what is in flight, report, and stop.
/// What a first Ctrl-C does, for commands that add distributions.
const FINISHING_DISTRIBUTIONS: &str = "finishing the distributions in progress";
/// What a first Ctrl-C does, for the others.
pub(crate) const STOPPING: &str = "stopping";

pub(crate) static CANCEL: AtomicBool = AtomicBool::new(false);

/// First Ctrl-C: stop after the work in progress (`stopping` says what that is). Second: quit
/// at once (the journal makes even that safe; the next run recovers).
pub(crate) fn install_interrupt_handler(quiet: bool, stopping: &'static str) {
    static PRESSES: AtomicU32 = AtomicU32::new(0);
    let _ = ctrlc::set_handler(move || {
        if PRESSES.fetch_add(1, Ordering::SeqCst) == 0 {
            CANCEL.store(true, Ordering::SeqCst);
            if !quiet {
                eprintln!("\ninterrupted: {stopping} (Ctrl-C again to quit now)");
            }
        } else {
            std::process::exit(130);
        }
    });
}

/// Runs the command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let root = cli.corpus.clone();
    let reporter = BarReporter::new(cli.quiet);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = match cli.command {
        Command::Init => {
            let existed = root.join("corpus.toml").exists();
            let corpus = Corpus::init(&root)?;
            if existed {
                writeln!(out, "{} is already a corpus", corpus.root().display())?;
            } else {
                writeln!(out, "created corpus {} (settings in corpus.toml)", corpus.root().display())?;
            }
            ExitCode::SUCCESS
        }
        Command::Add { paths, uploaded_on, jobs, retry_failed, json } => {
            let time = uploaded_on.as_deref().map(parse_date).transpose()?;
            let mut corpus = Corpus::open(&root, Access::Write)?;
            let (items, ignored) = collect_inputs(&paths, time)?;
            if items.is_empty() {
                bail!("no distribution files (.tar.gz, .zip, .whl, .egg, .conda, ...) found in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
            }
            for p in ignored.iter().take(5) {
                reporter.note_ignored(p);
            }
            if ignored.len() > 5 && !cli.quiet {
                eprintln!("... and {} more files that are not distributions", ignored.len() - 5);
            }
            install_interrupt_handler(cli.quiet, FINISHING_DISTRIBUTIONS);
            let started = std::time::Instant::now();
            let s = corpus.ingest(items, &AddOptions { jobs, retry_failed }, &reporter, &CANCEL)?;
            if json {
                serde_json::to_writer(&mut out, &s)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "added {} distribution(s) ({}) in {:.1}s: {} files, {} new unique blobs ({}); {} already present, {} failed",
                    thousands(s.added),
                    human_bytes(s.input_bytes),
                    started.elapsed().as_secs_f64(),
                    thousands(s.files),
                    thousands(s.new_blobs),
                    human_bytes(s.new_blob_bytes),
                    thousands(s.already_present),
                    thousands(s.failed)
                )?;
                for f in &s.failures {
                    writeln!(out, "  failed: {}: {}", f.file, f.reason)?;
                }
                for n in &s.sealed_shards {
                    writeln!(out, "  sealed shard {n:06} (full)")?;
                }
                if s.interrupted {
                    writeln!(out, "interrupted before the end: run the same command again to add the rest")?;
                }
            }
            if s.interrupted { ExitCode::from(130) } else { ExitCode::SUCCESS }
        }
        Command::Sync(args) => {
            let mut corpus = Corpus::open(&root, Access::Write)?;
            install_interrupt_handler(cli.quiet, FINISHING_DISTRIBUTIONS);
            sync(&mut corpus, &args, &reporter, &mut out)?
        }
        Command::Lock { output } => {
            let corpus = Corpus::open(&root, Access::Read)?;
            match output {
                Some(p) => {
                    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).with_context(|| format!("writing {}", p.display()))?);
                    corpus.write_lock(&mut f)?;
                    f.flush().with_context(|| format!("writing {}", p.display()))?;
                }
                None => {
                    corpus.write_lock(&mut out)?;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Seal { json } => {
            let mut corpus = Corpus::open(&root, Access::Write)?;
            install_interrupt_handler(cli.quiet, "removing the shard being written; the open shard stays as it was");
            match corpus.seal(Ctx::new(&reporter, &CANCEL))? {
                None => writeln!(out, "nothing to seal: there is no open shard with distributions")?,
                Some(s) if json => {
                    serde_json::to_writer_pretty(&mut out, &s.manifest)?;
                    writeln!(out)?;
                }
                Some(s) => {
                    let m = &s.manifest;
                    writeln!(
                        out,
                        "sealed shard {:06}: {} distributions, {} files, {} unique blobs; {} of contents in a {} pack ({:.1}x)",
                        s.shard,
                        thousands(m.distributions),
                        thousands(m.files),
                        thousands(m.unique_blobs),
                        human_bytes(m.blob_bytes),
                        human_bytes(m.pack_bytes),
                        m.blob_bytes as f64 / m.pack_bytes.max(1) as f64
                    )?;
                }
            }
            ExitCode::SUCCESS
        }
        Command::Upgrade { json } => {
            let mut corpus = Corpus::open(&root, Access::Write)?;
            let s = corpus.upgrade(&reporter)?;
            if json {
                serde_json::to_writer(&mut out, &s)?;
                writeln!(out)?;
            } else if s.shards_rewritten == 0 {
                writeln!(out, "nothing to upgrade: every sealed shard is format 2 already")?;
            } else {
                writeln!(
                    out,
                    "upgraded {} shard(s) to format 2: {} blobs -> {} ({} -> {} of packs); {} shard(s) kept as they were",
                    s.shards_rewritten,
                    thousands(s.blobs_before),
                    thousands(s.blobs_after),
                    human_bytes(s.pack_bytes_before),
                    human_bytes(s.pack_bytes_after),
                    s.shards_kept
                )?;
            }
            ExitCode::SUCCESS
        }
        Command::Status { format } => {
            let corpus = Corpus::open(&root, Access::Read)?;
            print_status(&mut out, &corpus.status()?, format)?;
            ExitCode::SUCCESS
        }
        Command::Verify { format } => {
            let corpus = Corpus::open(&root, Access::Read)?;
            install_interrupt_handler(cli.quiet, STOPPING);
            let r = corpus.verify(Ctx::new(&reporter, &CANCEL))?;
            match format {
                Format::Jsonl => {
                    serde_json::to_writer(&mut out, &r)?;
                    writeln!(out)?;
                }
                Format::Csv => {
                    csv_record(&mut out, &["kind".into(), "message".into()])?;
                    for p in &r.problems {
                        csv_record(&mut out, &["problem".into(), p.clone()])?;
                    }
                    for n in &r.notes {
                        csv_record(&mut out, &["note".into(), n.clone()])?;
                    }
                }
                Format::Table => {
                    for n in &r.notes {
                        writeln!(out, "note: {n}")?;
                    }
                    for p in &r.problems {
                        writeln!(out, "PROBLEM: {p}")?;
                    }
                    writeln!(
                        out,
                        "{}: {} shard(s), {} blobs re-hashed, {} files checked against manifests, {} problem(s)",
                        if r.ok() { "ok" } else { "FAILED" },
                        r.shards_checked,
                        thousands(r.blobs_checked),
                        r.files_checked,
                        r.problems.len()
                    )?;
                }
            }
            if r.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Command::Ls { filter, format, limit } => {
            let corpus = Corpus::open(&root, Access::Read)?;
            let stats = filter.stats;
            let filter = build_filter(&filter)?;
            let scanned = ls(&corpus, &filter, format, limit, &mut out)?;
            if stats {
                print_scan_stats(&scanned);
            }
            ExitCode::SUCCESS
        }
        Command::Grep {
            pattern,
            filter,
            ignore_case,
            fixed_strings,
            word_regexp,
            invert_match,
            files_with_matches,
            count,
            max_count,
            after_context,
            before_context,
            context,
            all_paths,
            json,
            threads,
        } => {
            let opts = pycorpus_explore::GrepOptions {
                pattern,
                case_insensitive: ignore_case,
                fixed_strings,
                word: word_regexp,
                invert: invert_match,
                before: before_context.or(context).unwrap_or(0),
                after: after_context.or(context).unwrap_or(0),
                max_count,
                mode: if files_with_matches {
                    pycorpus_explore::OutputMode::FilesWithMatches
                } else if count {
                    pycorpus_explore::OutputMode::Count
                } else {
                    pycorpus_explore::OutputMode::Lines
                },
                all_paths,
                json,
            };
            return Ok(grep(&root, &filter, &opts, threads, cli.quiet, &mut out));
        }
        Command::Extract { dest, filter, layout } => {
            let corpus = Corpus::open(&root, Access::Read)?;
            let f = build_filter(&filter)?;
            install_interrupt_handler(cli.quiet, STOPPING);
            let layout = match layout {
                LayoutArg::Oid => pycorpus_explore::Layout::Oid,
                LayoutArg::Tree => pycorpus_explore::Layout::Tree,
            };
            let mut werr: Option<std::io::Error> = None;
            let bar = VisitBar::beside_results(cli.quiet, "extract");
            let s = pycorpus_explore::extract(
                &corpus,
                &f,
                &dest,
                layout,
                &CANCEL,
                &mut |p| {
                    if werr.is_none()
                        && let Err(e) = writeln!(out, "{p}")
                    {
                        werr = Some(e);
                    }
                },
                Some(&|s| bar.update(s)),
            )?;
            drop(bar);
            if let Some(e) = werr {
                return Err(e.into());
            }
            out.flush()?;
            if filter.stats {
                print_scan_stats(&s.visit.scan);
            }
            for (p, why) in s.conflicts.iter().take(20) {
                eprintln!("not written: {p}: {why}");
            }
            if !cli.quiet {
                eprintln!(
                    "extracted to {}: {} file(s) written ({}), {} already there, {} conflict(s), {} selected file(s) have no stored contents",
                    dest.display(),
                    thousands(s.written),
                    human_bytes(s.written_bytes),
                    thousands(s.already_present),
                    thousands(s.conflicts.len() as u64),
                    thousands(s.not_stored)
                );
            }
            if CANCEL.load(Ordering::SeqCst) {
                ExitCode::from(130)
            } else if s.conflicts.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Stream { filter, format, base64 } => {
            let corpus = Corpus::open(&root, Access::Read)?;
            let f = build_filter(&filter)?;
            install_interrupt_handler(true, STOPPING);
            let format = match format {
                StreamFormatArg::Jsonl => pycorpus_explore::StreamFormat::Jsonl,
                StreamFormatArg::Raw => pycorpus_explore::StreamFormat::Raw,
            };
            let bar = VisitBar::beside_results(cli.quiet, "stream");
            let streamed = pycorpus_explore::stream(&corpus, &f, format, base64, &mut out, &CANCEL, Some(&|s| bar.update(s)));
            drop(bar);
            match streamed {
                Err(e) if e.is_broken_pipe() => {}
                r => {
                    let s = r?;
                    if filter.stats {
                        print_scan_stats(&s.visit.scan);
                        eprintln!("stream: {} record(s), {} byte(s) written ({})", thousands(s.records), thousands(s.bytes), human_bytes(s.bytes));
                        print_bases_fetched(s.visit.bases_fetched);
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Command::Analyze { filter, max_file_bytes, threads, json } => {
            set_threads(threads)?;
            let corpus = Corpus::open(&root, Access::Read)?;
            let f = build_filter(&filter)?;
            install_interrupt_handler(cli.quiet, STOPPING);
            let limits = pycorpus_analyze::Limits { max_bytes: max_file_bytes, ..Default::default() };
            let bar = VisitBar::new(cli.quiet, "analyze");
            let started = std::time::Instant::now();
            let s = pycorpus_analyze::analyze_corpus(&corpus, &f, &limits, &CANCEL, &|s| bar.update(s))?;
            drop(bar);
            if filter.stats {
                print_scan_stats(&s.visit.scan);
            }
            if json {
                writeln!(out, "{}", serde_json::to_string(&s)?)?;
            } else if !cli.quiet {
                let statuses: Vec<String> = s.by_status.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
                eprintln!(
                    "analyzed {} blob(s) in {:.1}s ({}); {} analysed before; facts in {}",
                    thousands(s.analyzed),
                    started.elapsed().as_secs_f64(),
                    if statuses.is_empty() { "nothing new".to_string() } else { statuses.join(", ") },
                    thousands(s.known),
                    pycorpus_analyze::analysis_dir(&corpus).display()
                );
            }
            if CANCEL.load(Ordering::SeqCst) { ExitCode::from(130) } else { ExitCode::SUCCESS }
        }
        Command::Report { filter, output, csv, parquet, charts, no_charts, period, min_units, top, exclude_tests_docs, json } => {
            if filter.spec.unique {
                bail!("--unique does not apply to report: it counts every release, project and file");
            }
            let corpus = Corpus::open(&root, Access::Read)?;
            let f = build_filter(&filter)?;
            install_interrupt_handler(cli.quiet, STOPPING);
            let html = output.unwrap_or_else(|| corpus.root().join("report").join("report.html"));
            let charts = if no_charts { None } else { Some(charts.unwrap_or_else(|| html.parent().unwrap_or(std::path::Path::new(".")).join("charts"))) };
            let sel = pycorpus_report::Selection {
                filter: f,
                exclude_tests_docs,
                period: period.map(|p| match p {
                    crate::cli::PeriodArg::Month => pycorpus_report::Period::Month,
                    crate::cli::PeriodArg::Quarter => pycorpus_report::Period::Quarter,
                    crate::cli::PeriodArg::Year => pycorpus_report::Period::Year,
                }),
            };
            let outputs = pycorpus_report::Outputs { html, charts, csv, parquet };
            let bar = spinner(cli.quiet, "report", "{prefix} {pos} row(s) read, {per_sec}, {elapsed}");
            let started = std::time::Instant::now();
            let s = pycorpus_report::report(&corpus, &sel, pycorpus_report::Drawing { min_units, top }, &outputs, &CANCEL, &|n| bar.set_position(n))?;
            bar.finish_and_clear();
            if json {
                writeln!(out, "{}", serde_json::to_string(&s)?)?;
            } else {
                let t = &s.totals;
                if !cli.quiet {
                    eprintln!(
                        "counted {} release(s) of {} project(s), {} unique Python file(s), per {}, in {:.1}s",
                        thousands(t.releases),
                        thousands(t.projects),
                        thousands(t.unique_python_files),
                        s.period.name(),
                        started.elapsed().as_secs_f64()
                    );
                    if t.releases == 0 {
                        eprintln!("note: no file matched the filters: the report is empty");
                    }
                    if t.python_files_without_facts > 0 {
                        eprintln!("note: {} Python file(s) have no facts yet and are not counted: run `pycorpus analyze`", thousands(t.python_files_without_facts));
                    }
                    if !s.png_text {
                        eprintln!("note: no fonts found on this system: the PNG charts have no text (the SVG charts and the page do)");
                    }
                    for (what, files) in [("charts", &s.charts), ("csv", &s.csv), ("parquet", &s.parquet)] {
                        if let Some(dir) = files.first().and_then(|p| p.parent()) {
                            eprintln!("{what}: {} file(s) in {}", files.len(), dir.display());
                        }
                    }
                }
                writeln!(out, "report: {}", s.html.display())?;
            }
            ExitCode::SUCCESS
        }
        Command::Torrent(crate::cli::TorrentCommand::Create(a)) => crate::share::create(&a, &reporter, cli.quiet, &mut out)?,
        Command::Seed(a) => crate::share::seed(&a, &root, cli.quiet, &mut out)?,
        Command::Get(a) => crate::share::get(&a, &root, cli.quiet, &mut out)?,
        Command::Export(crate::cli::ExportCommand::Codesearchnet(a)) => {
            let split = pycorpus_dataset::Split::parse(&a.split).map_err(anyhow::Error::msg).context("--split")?;
            if !(0.0..=1.0).contains(&a.near_duplicates) {
                bail!("--near-duplicates: expected a Jaccard similarity between 0 and 1, got {}", a.near_duplicates);
            }
            set_threads(a.threads)?;
            let corpus = Corpus::open(&root, Access::Read)?;
            let opts = pycorpus_dataset::ExportOptions {
                filter: build_filter(&a.filter)?,
                scenario: match a.scenario {
                    crate::cli::ScenarioArg::Docstring => pycorpus_dataset::Scenario::Docstring,
                    crate::cli::ScenarioArg::Comments => pycorpus_dataset::Scenario::Comments,
                    crate::cli::ScenarioArg::Both => pycorpus_dataset::Scenario::Both,
                },
                split,
                format: match a.format {
                    crate::cli::ExportFormatArg::JsonlGz => pycorpus_dataset::Format::JsonlGz,
                    crate::cli::ExportFormatArg::Parquet => pycorpus_dataset::Format::Parquet,
                },
                nested: a.nested,
                filters: pycorpus_dataset::Filters {
                    min_doc_tokens: a.min_doc_tokens,
                    max_doc_tokens: a.max_doc_tokens,
                    min_code_lines: a.min_code_lines,
                    drop_tests: !a.keep_tests,
                    drop_dunders: !a.keep_dunders,
                    drop_urls_html: !a.keep_urls,
                    english_only: !a.any_language,
                    dedup_exact: !a.keep_duplicates,
                    near_duplicate_jaccard: a.near_duplicates,
                },
                chunk_records: a.chunk.max(1),
                max_file_bytes: a.max_file_bytes,
            };
            install_interrupt_handler(cli.quiet, STOPPING);
            let bar = VisitBar::new(cli.quiet, "export");
            let started = std::time::Instant::now();
            let s = pycorpus_dataset::export(&corpus, &a.dest, &opts, &CANCEL, &|s| bar.update(s))?;
            drop(bar);
            if a.json {
                writeln!(out, "{}", serde_json::to_string(&s)?)?;
            } else {
                let recs: Vec<String> = s.records.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
                if !cli.quiet {
                    eprintln!(
                        "{} function(s) in {} file(s) in {:.1}s; records: {}; see {}/README.md",
                        thousands(s.functions),
                        thousands(s.blobs),
                        started.elapsed().as_secs_f64(),
                        recs.join(", "),
                        s.dest.display()
                    );
                }
                writeln!(out, "dataset: {}", s.dest.display())?;
            }
            ExitCode::SUCCESS
        }
        Command::Cat { what } => {
            let corpus = Corpus::open(&root, Access::Read)?;
            cat(&corpus, &what, &mut out)?;
            ExitCode::SUCCESS
        }
    };
    out.flush()?;
    Ok(code)
}

/// `--threads`: the size of rayon's global pool, which every visit takes its thread count from.
fn set_threads(threads: Option<usize>) -> Result<()> {
    match threads {
        Some(n) => rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().context("--threads"),
        None => Ok(()),
    }
}

/// A spinner with a count (hidden with --quiet).
pub(crate) fn spinner(quiet: bool, prefix: &'static str, template: &str) -> indicatif::ProgressBar {
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new_spinner() };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar.set_prefix(prefix);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

impl BarReporter {
    fn note_ignored(&self, p: &std::path::Path) {
        pycorpus_core::Reporter::note(self, &format!("ignored (not a distribution file name): {}", p.display()));
    }
}

fn sync(corpus: &mut Corpus, a: &SyncArgs, reporter: &BarReporter, out: &mut impl Write) -> Result<ExitCode> {
    let types = a.types.iter().map(|t| pycorpus_archive::DistType::parse(t).with_context(|| format!("--types: unknown type {t:?} (sdist, wheel, egg, conda)"))).collect::<Result<Vec<_>>>()?;
    let opts = pycorpus_core::SyncOptions {
        index_url: a.index_url.clone(),
        projects: a.project.clone(),
        projects_file: a.projects_file.clone(),
        all: a.all,
        lock: a.lock.clone(),
        since: a.since.as_deref().map(parse_date).transpose().context("--since")?,
        until: a.until.as_deref().map(parse_date).transpose().context("--until")?,
        latest: a.latest,
        types,
        exclude: a.exclude.clone(),
        max_file_size: a.max_file_size,
        only_pure_wheels: a.only_pure_wheels,
        platforms: a.platform.clone(),
        include_yanked: a.include_yanked,
        jobs: a.jobs,
        dry_run: a.dry_run,
        keep_archives: a.keep_archives.clone(),
        conda_channel: a.conda_channel.clone(),
        conda_subdirs: a.subdir.clone(),
        client: pycorpus_core::ClientOptions { timeout: std::time::Duration::from_secs(a.timeout.max(1)), retries: a.retries, ..Default::default() },
    };
    let started = std::time::Instant::now();
    let s = corpus.sync(&opts, reporter, &CANCEL)?;
    if a.json {
        serde_json::to_writer(&mut *out, &s)?;
        writeln!(out)?;
    } else {
        if a.dry_run {
            let rows: Vec<Vec<String>> = s
                .planned
                .iter()
                .map(|p| {
                    vec![p.project.clone(), p.version.clone(), p.filename.clone(), p.size.map(human_bytes).unwrap_or_default(), p.upload_time.map(pycorpus_catalog::format_time).unwrap_or_default()]
                })
                .collect();
            if !rows.is_empty() {
                table(out, &["project", "version", "file", "size", "uploaded"], &rows, &[false, false, false, true, false])?;
            }
            writeln!(out, "would fetch {} file(s), {} ({} already in the corpus) from {}", thousands(s.planned_files), human_bytes(s.planned_bytes), thousands(s.already_present), s.index_url)?;
        } else {
            writeln!(
                out,
                "synced {} project(s) from {} in {:.1}s: {} file(s) downloaded ({}), {} added, {} already present",
                thousands(s.projects),
                s.index_url,
                started.elapsed().as_secs_f64(),
                thousands(s.downloaded),
                human_bytes(s.downloaded_bytes),
                thousands(s.add.added),
                thousands(s.already_present + s.add.already_present)
            )?;
            for f in &s.add.failures {
                writeln!(out, "  unreadable archive, recorded as failed: {}: {}", f.file, f.reason)?;
            }
        }
        for p in &s.projects_missing {
            writeln!(out, "  not on the index: {p}")?;
        }
        for f in &s.failures {
            writeln!(out, "  failed: {}: {}", f.file, f.reason)?;
        }
        if s.add.interrupted {
            writeln!(out, "interrupted before the end: run the same command again to continue")?;
        }
    }
    Ok(if s.add.interrupted {
        ExitCode::from(130)
    } else if s.failures.is_empty() && s.projects_missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Turns filter flags into a [`Filter`], with errors that name the flag.
pub fn build_filter(a: &FilterArgs) -> Result<Filter> {
    Ok(a.spec.build(&|field| format!("--{}", field.replace('_', "-")))?)
}

/// `grep`: exit 0 on a match, 1 on none, 2 on error (grep's convention, so scripts can test it).
fn grep(root: &std::path::Path, filter: &FilterArgs, opts: &pycorpus_explore::GrepOptions, threads: Option<usize>, quiet: bool, out: &mut impl Write) -> ExitCode {
    let mut run = || -> Result<pycorpus_explore::GrepStats> {
        set_threads(threads)?;
        let corpus = Corpus::open(root, Access::Read)?;
        let f = build_filter(filter)?;
        install_interrupt_handler(true, STOPPING);
        let started = std::time::Instant::now();
        let bar = VisitBar::beside_results(quiet, "grep");
        let searched = pycorpus_explore::grep(&corpus, &f, opts, out, &CANCEL, Some(&|s| bar.update(s)));
        drop(bar);
        let stats = match searched {
            Err(e) if e.is_broken_pipe() => return Ok(pycorpus_explore::GrepStats { lines_matched: 1, ..Default::default() }),
            r => r?,
        };
        if filter.stats {
            let v = &stats.visit;
            print_scan_stats(&v.scan);
            eprintln!(
                "grep: {} candidate blob(s) ({}), {} frame(s) skipped by the trigram index, {} decoded ({}), {} blob(s) searched, {} matched, {} line(s); {:.3}s",
                thousands(v.candidate_blobs),
                human_bytes(v.candidate_bytes),
                thousands(v.frames_skipped),
                thousands(v.frames_decoded),
                human_bytes(v.bytes_decoded),
                thousands(v.blobs_read),
                thousands(stats.blobs_matched),
                thousands(stats.lines_matched),
                started.elapsed().as_secs_f64()
            );
            print_bases_fetched(v.bases_fetched);
        }
        Ok(stats)
    };
    match run() {
        Ok(s) if s.lines_matched > 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// With `--stats`: delta bases a reader had to fetch on their own (see `VisitStats`), if any.
fn print_bases_fetched(n: u64) {
    if n > 0 {
        eprintln!("{} delta base(s) read through the corpus (their chains decoded again)", thousands(n));
    }
}

/// `--stats`: what the filters let the scan skip, on stderr.
fn print_scan_stats(s: &ScanStats) {
    eprintln!(
        "scan: {} of {} shard(s) skipped; {} of {} row group(s) skipped; {} row(s) read, {} matched",
        s.shards_skipped,
        s.shards,
        s.row_groups_skipped,
        s.row_groups,
        thousands(s.rows_read),
        thousands(s.rows_matched)
    );
}

fn ls(corpus: &Corpus, filter: &Filter, format: Format, limit: Option<u64>, out: &mut impl Write) -> Result<ScanStats> {
    let mut stats = ScanStats::default();
    let mut n = 0u64;
    let mut err: Option<std::io::Error> = None;
    if format == Format::Csv {
        csv_record(out, &FILES_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>())?;
    }
    corpus.scan_rows(filter, &mut stats, &mut |row| {
        if limit.is_some_and(|l| n >= l) {
            return false;
        }
        n += 1;
        let r = match format {
            Format::Jsonl => serde_json::to_writer(&mut *out, &row_json(&row)).map_err(std::io::Error::other).and_then(|_| writeln!(out)),
            Format::Csv => {
                let v = row_json(&row);
                csv_record(out, &FILES_COLUMNS.iter().map(|c| csv_field(&v[*c])).collect::<Vec<_>>())
            }
            Format::Table => {
                writeln!(out, "{}  {:>9}  {:<15}  {} {}  {}", &row.hash.to_hex()[..12], row.size, row.skip_reason.map_or("", |s| s.as_str()), row.project_name, row.project_version, row.inner_path())
            }
        };
        match r {
            Ok(()) => true,
            Err(e) => {
                err = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(stats)
}

fn cat(corpus: &Corpus, what: &[String], out: &mut impl Write) -> Result<()> {
    let oid: Oid = match what {
        [oid] => oid.parse().with_context(|| format!("{oid:?} is not a blob id; to name a file give PROJECT VERSION PATH"))?,
        [project, version, path] => {
            let rows = corpus.find_files(project, version, path)?;
            match rows.as_slice() {
                [] => bail!("no file {path:?} in {project} {version} (list them with: pycorpus ls --project {project} --version {version})"),
                [row] => {
                    if let Some(reason) = row.skip_reason {
                        bail!("{} is indexed but its contents are not stored (skip reason: {reason})", row.path);
                    }
                    row.hash
                }
                many => {
                    let distinct: std::collections::BTreeSet<Oid> = many.iter().map(|r| r.hash).collect();
                    if distinct.len() > 1 {
                        let list = many.iter().take(10).map(|r| format!("  {} {}", r.project_release, r.inner_path())).collect::<Vec<_>>().join("\n");
                        bail!("{path:?} matches {} files with different contents; give the full path:\n{list}", many.len());
                    }
                    many[0].hash
                }
            }
        }
        _ => bail!("give a blob id, or PROJECT VERSION PATH"),
    };
    let data = corpus.read_blob(&oid)?.with_context(|| format!("blob {oid} is not stored in this corpus"))?;
    out.write_all(&data)?;
    Ok(())
}

fn print_status(out: &mut impl Write, s: &Status, format: Format) -> Result<()> {
    match format {
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, s)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let head = ["shard", "state", "distributions", "failed", "files", "stored_files", "unique_blobs", "blob_bytes", "original_bytes", "disk_bytes", "first_upload", "last_upload"];
            csv_record(out, &head.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
            for sh in s.shards.iter().chain(std::iter::once(&s.total)) {
                let v = serde_json::to_value(sh)?;
                let mut rec = vec![if sh.number == 0 { "total".to_string() } else { format!("{:06}", sh.number) }];
                rec.extend(head[1..].iter().map(|h| csv_field(&v[*h])));
                csv_record(out, &rec)?;
            }
        }
        Format::Table => {
            let t = &s.total;
            writeln!(out, "corpus         {}", s.corpus.display())?;
            writeln!(out, "distributions  {} ({} failed)", thousands(t.distributions), thousands(t.failed))?;
            writeln!(out, "files          {} indexed, {} with stored contents", thousands(t.files), thousands(t.stored_files))?;
            writeln!(out, "unique blobs   {} ({})", thousands(t.unique_blobs), human_bytes(t.blob_bytes))?;
            writeln!(out, "sizes          {} indexed, {} unique, {} on disk", human_bytes(t.original_bytes), human_bytes(t.blob_bytes), human_bytes(t.disk_bytes))?;
            writeln!(out, "ratios         dedup {:.1}x, overall {:.1}x", s.dedup_ratio, s.overall_ratio)?;
            if let (Some(a), Some(b)) = (&t.first_upload, &t.last_upload) {
                writeln!(out, "uploads        {a} .. {b}")?;
            }
            writeln!(out)?;
            let rows: Vec<Vec<String>> = s
                .shards
                .iter()
                .map(|sh| {
                    vec![
                        format!("{:06}", sh.number),
                        sh.state.clone(),
                        thousands(sh.distributions),
                        thousands(sh.files),
                        thousands(sh.unique_blobs),
                        human_bytes(sh.blob_bytes),
                        human_bytes(sh.disk_bytes),
                    ]
                })
                .collect();
            if rows.is_empty() {
                writeln!(out, "no shards yet: add distributions with `pycorpus add PATH`")?;
            } else {
                table(out, &["shard", "state", "dists", "files", "blobs", "unique", "on disk"], &rows, &[false, false, true, true, true, true, true])?;
            }
            if let Some(sync) = &s.sync {
                let counts: Vec<String> = sync.files.iter().map(|(k, n)| format!("{} {k}", thousands(*n))).collect();
                writeln!(out, "\nsync           files: {}; {} project(s) with a recorded serial", counts.join(", "), thousands(sync.projects_with_serial))?;
                if !sync.failed.is_empty() {
                    writeln!(out, "failed files (latest first; the next sync retries them):")?;
                    for f in &sync.failed {
                        writeln!(out, "  {} {}: {} (attempts: {})", f.project, f.file_name, f.reason, f.attempts)?;
                    }
                }
            }
        }
    }
    Ok(())
}
