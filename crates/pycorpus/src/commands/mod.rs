//! One file per command, each a `run` that resolves settings, calls the library, renders the
//! result and returns the exit status; here the dispatch and what commands share.

mod add;
mod analyze;
mod cat;
mod deps;
mod export;
mod extract;
mod grep;
mod init;
mod lock;
mod ls;
mod report;
mod seal;
mod secrets;
mod serve;
mod status;
mod stream;
mod sync;
mod upgrade;
mod verify;

use crate::cli::{Cli, Command, FilterArgs, Format, SyncArgs};
use crate::output::{csv_field, csv_record, human_bytes, row_json, table, thousands};
use crate::reporters::{BarReporter, VisitBar};
use anyhow::{Context, Result, bail};
use pycorpus_catalog::{FILES_COLUMNS, Filter, ScanStats};
use pycorpus_core::{Access, Corpus, Ctx, Status, collect_inputs};
use pycorpus_store::Oid;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// What a first Ctrl-C does, for commands that add distributions.
const FINISHING_DISTRIBUTIONS: &str = "finishing the distributions in progress";
/// What a first Ctrl-C does, for the others.
pub(crate) const STOPPING: &str = "stopping";

/// Set by the first Ctrl-C: long commands finish what is in flight, report, and stop.
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

/// What every command gets besides its own arguments.
pub(crate) struct Env<'a> {
    /// The corpus folder (`--corpus`).
    pub(crate) root: &'a Path,
    /// `--quiet`.
    pub(crate) quiet: bool,
    /// Progress bars on stderr (hidden with `--quiet`).
    pub(crate) reporter: &'a BarReporter,
}

/// Runs the command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let reporter = BarReporter::new(cli.quiet);
    let env = Env { root: &cli.corpus, quiet: cli.quiet, reporter: &reporter };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = match cli.command {
        Command::Init => init::run(&env, &mut out)?,
        Command::Add(a) => add::run(a, &env, &mut out)?,
        Command::Sync(args) => sync::run(args, &env, &mut out)?,
        Command::Lock(a) => lock::run(a, &env, &mut out)?,
        Command::Seal(a) => seal::run(a, &env, &mut out)?,
        Command::Upgrade(a) => upgrade::run(a, &env, &mut out)?,
        Command::ReindexMetadata(a) => upgrade::reindex_metadata(a, &env, &mut out)?,
        Command::Status(a) => status::run(a, &env, &mut out)?,
        Command::Verify(a) => verify::run(a, &env, &mut out)?,
        Command::Ls(a) => ls::run(a, &env, &mut out)?,
        Command::Grep(a) => grep::run(a, &env, &mut out)?,
        Command::Extract(a) => extract::run(a, &env, &mut out)?,
        Command::Stream(a) => stream::run(a, &env, &mut out)?,
        Command::Analyze(a) => analyze::run(a, &env, &mut out)?,
        Command::Report(a) => report::run(a, &env, &mut out)?,
        Command::Torrent(crate::cli::TorrentCommand::Create(a)) => crate::share::create(&a, &reporter, cli.quiet, &mut out)?,
        Command::Seed(a) => crate::share::seed(&a, &cli.corpus, cli.quiet, &mut out)?,
        Command::Get(a) => crate::share::get(&a, &cli.corpus, cli.quiet, &mut out)?,
        Command::Export(crate::cli::ExportCommand::Codesearchnet(a)) => export::run(a, &env, &mut out)?,
        Command::Cat(a) => cat::run(a, &env, &mut out)?,
        Command::Serve(a) => serve::run(a, &env)?,
        Command::Deps(a) => deps::run(a, &env, &mut out)?,
        Command::Secrets(a) => secrets::run(a, &env, &mut out)?,
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

/// An option of the options layer as the command line spells it: `min_size` is `--min-size`.
pub(crate) fn flag_name(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

/// Turns filter flags into a [`Filter`], with errors that name the flag.
pub fn build_filter(a: &FilterArgs) -> Result<Filter> {
    Ok(a.spec.build(&flag_name)?)
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
    if s.rows_indexed > 0 {
        eprintln!("rows of the candidate blobs located by rows.idx in {} shard(s) (no other row read)", s.rows_indexed);
    }
}
