//! `grep`: searches the selected files' contents.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::GrepArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::GrepArgs { pattern, filter, spec, files_with_matches, count, all_paths, json, threads } = a;
    let mode = if files_with_matches {
        pycorpus_explore::OutputMode::FilesWithMatches
    } else if count {
        pycorpus_explore::OutputMode::Count
    } else {
        pycorpus_explore::OutputMode::Lines
    };
    let opts = match spec.build(pattern, mode, all_paths, json) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    Ok(grep(env.root, &filter, &opts, threads, env.quiet, out))
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
        let searched = pycorpus_explore::grep(&corpus, &f, opts, out, Ctx::new(&bar, &CANCEL));
        drop(bar);
        let stats = match searched {
            Err(e) if e.is_broken_pipe() => return Ok(pycorpus_explore::GrepStats { lines_matched: 1, ..Default::default() }),
            r => r?,
        };
        if filter.stats {
            let v = &stats.visit;
            print_scan_stats(&v.scan);
            eprintln!(
                "grep: {} candidate blob(s) ({}), {} ruled out by the trigram indexes ({} frame(s) not read), {} decoded ({}), {} blob(s) searched, {} matched, {} line(s); {:.3}s",
                thousands(v.candidate_blobs),
                human_bytes(v.candidate_bytes),
                thousands(v.blobs_ruled_out),
                thousands(v.frames_skipped),
                thousands(v.frames_decoded),
                human_bytes(v.bytes_decoded),
                thousands(v.blobs_read),
                thousands(stats.blobs_matched),
                thousands(stats.lines_matched),
                started.elapsed().as_secs_f64()
            );
            if let Some(n) = stats.index_candidates {
                eprintln!("search index: {} candidate blob(s) in the sealed shards; only their rows were read", thousands(n));
            }
            print_bases_fetched(v.bases_fetched);
        }
        Ok(stats)
    };
    match run() {
        Ok(s) if s.lines_matched > 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {}", crate::describe(&e));
            ExitCode::from(2)
        }
    }
}
