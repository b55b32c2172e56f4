//! `extract`: writes the selected files' contents to a folder.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::ExtractArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::ExtractArgs { dest, filter, spec } = a;
    let (root, quiet) = (env.root, env.quiet);
    let corpus = Corpus::open(root, Access::Read)?;
    let f = build_filter(&filter)?;
    install_interrupt_handler(quiet, STOPPING);
    let mut werr: Option<std::io::Error> = None;
    let bar = VisitBar::beside_results(quiet, "extract");
    let s = pycorpus_explore::extract(&corpus, &f, &dest, spec.layout, Ctx::new(&bar, &CANCEL), &mut |p| {
        if werr.is_none()
            && let Err(e) = writeln!(out, "{p}")
        {
            werr = Some(e);
        }
    })?;
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
    if !quiet {
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
    let code = if CANCEL.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else if s.conflicts.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    Ok(code)
}
