//! `export codesearchnet`: a CodeSearchNet-format dataset.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::CodesearchnetArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let (root, quiet) = (env.root, env.quiet);
    set_threads(a.threads)?;
    let corpus = Corpus::open(root, Access::Read)?;
    let opts = a.spec.build(build_filter(&a.filter)?, &flag_name)?;
    install_interrupt_handler(quiet, STOPPING);
    let bar = VisitBar::new(quiet, "export");
    let started = std::time::Instant::now();
    let s = pycorpus_dataset::export(&corpus, &a.dest, &opts, Ctx::new(&bar, &CANCEL))?;
    drop(bar);
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
    } else {
        let recs: Vec<String> = s.records.iter().map(|(k, v)| format!("{k} {}", thousands(*v))).collect();
        if !quiet {
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
    Ok(ExitCode::SUCCESS)
}
