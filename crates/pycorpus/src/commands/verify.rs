//! `verify`: re-hashes and checks everything; exit 1 on any problem.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::VerifyArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::VerifyArgs { format } = a;
    let (root, quiet, reporter) = (env.root, env.quiet, env.reporter);
    let corpus = Corpus::open(root, Access::Read)?;
    install_interrupt_handler(quiet, STOPPING);
    let r = corpus.verify(Ctx::new(reporter, &CANCEL))?;
    match format {
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, &r)?;
            writeln!(out)?;
        }
        Format::Csv => {
            csv_record(out, &["kind".into(), "message".into()])?;
            for p in &r.problems {
                csv_record(out, &["problem".into(), p.clone()])?;
            }
            for n in &r.notes {
                csv_record(out, &["note".into(), n.clone()])?;
            }
        }
        Format::Table => {
            for n in &r.notes {
                writeln!(out, "note: {n}")?;
            }
            for p in &r.problems {
                writeln!(out, "PROBLEM: {p}")?;
            }
            writeln!(
                out,
                "{}: {} shard(s), {} blobs re-hashed, {} files checked against manifests, {} problem(s)",
                if r.ok() { "ok" } else { "FAILED" },
                r.shards_checked,
                thousands(r.blobs_checked),
                r.files_checked,
                r.problems.len()
            )?;
        }
    }
    Ok(if r.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
