//! `stream`: the selected files and their contents on stdout.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::StreamArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::StreamArgs { filter, format, base64 } = a;
    let (root, quiet) = (env.root, env.quiet);
    let corpus = Corpus::open(root, Access::Read)?;
    let f = build_filter(&filter)?;
    install_interrupt_handler(true, STOPPING);
    let bar = VisitBar::beside_results(quiet, "stream");
    let streamed = pycorpus_explore::stream(&corpus, &f, format, base64, out, Ctx::new(&bar, &CANCEL));
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
    Ok(ExitCode::SUCCESS)
}
