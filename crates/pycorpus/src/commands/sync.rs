//! `sync`: mirrors distribution files from a package index.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(args: crate::cli::SyncArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let (root, quiet, reporter) = (env.root, env.quiet, env.reporter);
    let mut corpus = Corpus::open(root, Access::Write)?;
    install_interrupt_handler(quiet, FINISHING_DISTRIBUTIONS);
    sync(&mut corpus, &args, reporter, out)
}

/// The sync itself: options from the flags, the summary printed.
fn sync(corpus: &mut Corpus, a: &SyncArgs, reporter: &BarReporter, out: &mut impl Write) -> Result<ExitCode> {
    let opts = a.spec.build(&flag_name)?;
    let started = std::time::Instant::now();
    let s = pycorpus_sync::sync(corpus, &opts, Ctx::new(reporter, &CANCEL))?;
    if a.json {
        serde_json::to_writer(&mut *out, &s)?;
        writeln!(out)?;
    } else {
        if opts.dry_run {
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
