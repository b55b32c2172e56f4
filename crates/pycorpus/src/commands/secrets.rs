//! `secrets`: leaked credentials in the selection's files.

use super::*;

/// The record fields, in the order of `--format csv` and of the JSON objects' meaning.
const FIELDS: [&str; 12] = ["rule", "project_name", "project_version", "project_release", "path", "line", "first_uploaded_on", "oid", "fingerprint", "secret", "context", "generic"];

/// Runs it; the exit status says how it went: 0 found, 1 nothing found, 2 an error (grep's
/// convention, so scripts can test it).
pub(crate) fn run(a: crate::cli::SecretsArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    match scan(a, env, out) {
        Ok(code) => Ok(code),
        // `pycorpus secrets | head`
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {}", crate::describe(&e));
            Ok(ExitCode::from(2))
        }
    }
}

fn scan(a: crate::cli::SecretsArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::SecretsArgs { filter, spec, format } = a;
    let rules = spec.rule_set()?;
    let corpus = Corpus::open(env.root, Access::Read)?;
    let show_stats = filter.stats;
    let filter = build_filter(&filter)?;
    if format == Format::Csv {
        csv_record(out, &FIELDS.iter().map(|c| c.to_string()).collect::<Vec<_>>())?;
    }
    let bar = VisitBar::beside_results(env.quiet, "secrets");
    let stats = pycorpus_explore::secrets(&corpus, &filter, &rules, spec.show_secrets, Ctx::new(&bar, &CANCEL), &mut |records| {
        for r in records {
            match format {
                Format::Jsonl => {
                    serde_json::to_writer(&mut *out, &r).map_err(std::io::Error::other)?;
                    writeln!(out)?;
                }
                Format::Csv => {
                    let v = serde_json::to_value(&r).map_err(std::io::Error::other)?;
                    csv_record(out, &FIELDS.iter().map(|c| csv_field(&v[*c])).collect::<Vec<_>>())?;
                }
                Format::Table => {
                    let ctx = if r.context.is_empty() { String::new() } else { format!(" [{}]", r.context) };
                    writeln!(out, "{:<24} {} {}  {}:{}  {}{ctx}", r.rule, r.project_name, r.project_version, r.path, r.line, r.secret)?;
                }
            }
        }
        Ok(())
    })?;
    drop(bar);
    out.flush()?;
    if show_stats {
        eprintln!("{}", serde_json::to_string(&stats)?);
    }
    if !env.quiet {
        eprintln!(
            "{} finding(s) in {} blob(s), {} file record(s); {} blobs read",
            thousands(stats.findings),
            thousands(stats.blobs_with_findings),
            thousands(stats.records),
            thousands(stats.visit.blobs_read)
        );
    }
    Ok(if stats.findings > 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
