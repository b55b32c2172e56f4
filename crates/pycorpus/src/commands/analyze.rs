//! `analyze`: parses each unique Python file once and keeps its facts.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::AnalyzeArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::AnalyzeArgs { filter, spec, threads, json } = a;
    let (root, quiet) = (env.root, env.quiet);
    set_threads(threads)?;
    let corpus = Corpus::open(root, Access::Read)?;
    let f = build_filter(&filter)?;
    install_interrupt_handler(quiet, STOPPING);
    let bar = VisitBar::new(quiet, "analyze");
    let started = std::time::Instant::now();
    let s = pycorpus_analyze::analyze_corpus(&corpus, &f, &spec.limits(), Ctx::new(&bar, &CANCEL))?;
    drop(bar);
    if filter.stats {
        print_scan_stats(&s.visit.scan);
    }
    if json {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
    } else if !quiet {
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
    Ok(if CANCEL.load(Ordering::SeqCst) { ExitCode::from(130) } else { ExitCode::SUCCESS })
}
