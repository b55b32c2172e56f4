//! `report`: charts the adoption of features and packaging over time.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::ReportArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::ReportArgs { filter, spec, json } = a;
    let (root, quiet) = (env.root, env.quiet);
    let corpus = Corpus::open(root, Access::Read)?;
    let sel = spec.selection(build_filter(&filter)?);
    let outputs = spec.outputs(corpus.root(), &flag_name)?;
    install_interrupt_handler(quiet, STOPPING);
    let bar = crate::reporters::Spinner(spinner(quiet, "report", "{prefix} {pos} row(s) read, {per_sec}, {elapsed}"));
    let started = std::time::Instant::now();
    let s = pycorpus_report::report(&corpus, &sel, spec.drawing(), &outputs, Ctx::new(&bar, &CANCEL))?;
    bar.0.finish_and_clear();
    if json {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
    } else {
        let t = &s.totals;
        if !quiet {
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
    Ok(ExitCode::SUCCESS)
}
