//! `add`: ingests distribution files and folders of them.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::AddArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::AddArgs { paths, spec, json } = a;
    let (root, quiet, reporter) = (env.root, env.quiet, env.reporter);
    let (time, opts) = spec.build(&flag_name)?;
    let mut corpus = Corpus::open(root, Access::Write)?;
    let (items, ignored) = collect_inputs(&paths, time)?;
    if items.is_empty() {
        bail!("no distribution files (.tar.gz, .zip, .whl, .egg, .conda, ...) found in {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
    }
    for p in ignored.iter().take(5) {
        reporter.note_ignored(p);
    }
    if ignored.len() > 5 && !quiet {
        eprintln!("... and {} more files that are not distributions", ignored.len() - 5);
    }
    install_interrupt_handler(quiet, FINISHING_DISTRIBUTIONS);
    let started = std::time::Instant::now();
    let s = corpus.ingest(items, &opts, Ctx::new(reporter, &CANCEL))?;
    if json {
        serde_json::to_writer(&mut *out, &s)?;
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
    Ok(if s.interrupted { ExitCode::from(130) } else { ExitCode::SUCCESS })
}
