//! `secrets`: leaked credentials in the selection's files.

use super::*;

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
    let crate::cli::SecretsArgs { filter, spec, format, output } = a;
    use crate::cli::SecretsFormat as F;
    if format == F::Parquet && output.is_none() {
        bail!("--format parquet writes a file: give it with -o FILE");
    }
    let rules = spec.rule_set()?;
    let corpus = Corpus::open(env.root, Access::Read)?;
    let show_stats = filter.stats;
    let filter = build_filter(&filter)?;
    // -o FILE: written beside as FILE.part, renamed when complete
    let part = output.as_ref().map(|p| {
        let mut s = p.as_os_str().to_owned();
        s.push(".part");
        std::path::PathBuf::from(s)
    });
    let mut file = match (&part, format) {
        (Some(p), F::Parquet) => Sink::Parquet(Box::new(pycorpus_catalog::RecordWriter::create(p, pycorpus_explore::SECRET_COLUMNS)?)),
        (Some(p), _) => Sink::File(BufWriter::new(std::fs::File::create(p).with_context(|| p.display().to_string())?)),
        (None, _) => Sink::Out,
    };
    let names = || pycorpus_explore::SECRET_COLUMNS.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>();
    if format == F::Csv {
        csv_record(&mut file.writer(out), &names())?;
    }
    let bar = VisitBar::beside_results(env.quiet, "secrets");
    let stats = pycorpus_explore::secrets(&corpus, &filter, &rules, spec.show_secrets, Ctx::new(&bar, &CANCEL), &mut |records| {
        for r in records {
            if let Sink::Parquet(w) = &mut file {
                w.push(r.cells()).map_err(std::io::Error::other)?;
                continue;
            }
            let mut o = file.writer(out);
            match format {
                F::Jsonl | F::Parquet => {
                    serde_json::to_writer(&mut o, &r).map_err(std::io::Error::other)?;
                    writeln!(o)?;
                }
                F::Csv => {
                    let v = serde_json::to_value(&r).map_err(std::io::Error::other)?;
                    csv_record(&mut o, &pycorpus_explore::SECRET_COLUMNS.iter().map(|(c, _)| csv_field(&v[*c])).collect::<Vec<_>>())?;
                }
                F::Table => {
                    let ctx = if r.context.is_empty() { String::new() } else { format!(" [{}]", r.context) };
                    writeln!(o, "{:<24} {} {}  {}:{}  {}{ctx}", r.rule, r.project_name, r.project_version, r.path, r.line, r.secret)?;
                }
            }
        }
        Ok(())
    })?;
    drop(bar);
    match file {
        Sink::Parquet(w) => w.finish()?,
        Sink::File(mut f) => {
            f.flush()?;
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        Sink::Out => out.flush()?,
    }
    if let (Some(part), Some(dest)) = (&part, &output) {
        std::fs::rename(part, dest).with_context(|| dest.display().to_string())?;
    }
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

/// Where records go: stdout, a file, or a Parquet file.
enum Sink {
    Out,
    File(BufWriter<std::fs::File>),
    Parquet(Box<pycorpus_catalog::RecordWriter>),
}

impl Sink {
    /// The text writer: the file's, or `out`.
    fn writer<'a>(&'a mut self, out: &'a mut dyn Write) -> Box<dyn Write + 'a> {
        match self {
            Sink::File(f) => Box::new(f),
            _ => Box::new(out),
        }
    }
}
