//! `pycorpus`: command-line front end. CLI types and wiring only; the work is in the library
//! crates.

mod cli;
mod commands;
mod output;
mod reporters;
mod share;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc, with the policy of pycorpus-alloc (why there).
#[global_allocator]
static GLOBAL: pycorpus_alloc::Allocator = pycorpus_alloc::Allocator;

fn main() -> ExitCode {
    pycorpus_alloc::configure();
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("PYCORPUS_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return ExitCode::SUCCESS; // `pycorpus ls | head`
            }
            if commands::CANCEL.load(std::sync::atomic::Ordering::SeqCst) {
                // Ctrl-C: the operation stopped as asked (its error says how, if more than that)
                eprintln!("{}", pycorpus_core::error_chain(e.as_ref()));
                return ExitCode::from(130);
            }
            eprintln!("error: {}", describe(&e));
            ExitCode::from(1)
        }
    }
}

/// An error with its causes and, when there is one, what to do about it.
pub(crate) fn describe(e: &anyhow::Error) -> String {
    let text = pycorpus_core::error_chain(e.as_ref());
    match hint(e) {
        Some(h) => format!("{text}; {h}"),
        None => text,
    }
}

/// What to do about an error, in the command line's terms (the libraries' messages name no
/// command or flag).
fn hint(e: &anyhow::Error) -> Option<String> {
    use pycorpus_core::CoreError as C;
    for cause in e.chain() {
        match cause.downcast_ref::<C>() {
            Some(C::NotACorpus(_)) => return Some("create one with `pycorpus init`, or pass --corpus DIR".into()),
            Some(C::MissingShard { .. }) => return Some("fetch it with `pycorpus get HASH` (or `get --with-deps` for a shard and all it needs)".into()),
            _ => {}
        }
        match cause.downcast_ref() {
            Some(pycorpus_report::ReportError::NoFacts(_)) => return Some("run `pycorpus analyze` first".into()),
            Some(pycorpus_report::ReportError::UniqueFilter) => return Some("leave out --unique".into()),
            _ => {}
        }
        if let Some(pycorpus_sync::IndexError::NoIndex(_)) = cause.downcast_ref() {
            return Some("pass --index-url URL or set PIP_INDEX_URL".into());
        }
        if let Some(pycorpus_sync::SyncError::NothingSelected) = cause.downcast_ref() {
            return Some("give --project NAME, --projects-file F, --lock FILE or --all".into());
        }
        if let Some(pycorpus_share::ShareError::NothingToSeed(_)) = cause.downcast_ref() {
            return Some("run `pycorpus seal`, or name what to seed".into());
        }
        if let Some(pycorpus_core::FileLookupError::NoSuchFile { project, version, .. }) = cause.downcast_ref() {
            return Some(format!("list them with: pycorpus ls --project {project} --version {version}"));
        }
    }
    None
}
