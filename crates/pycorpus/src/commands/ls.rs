//! `ls`: lists the selected files.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::LsArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::LsArgs { filter, format, limit } = a;
    let root = env.root;
    let corpus = Corpus::open(root, Access::Read)?;
    let stats = filter.stats;
    let filter = build_filter(&filter)?;
    let scanned = ls(&corpus, &filter, format, limit, out)?;
    if stats {
        print_scan_stats(&scanned);
    }
    Ok(ExitCode::SUCCESS)
}

fn ls(corpus: &Corpus, filter: &Filter, format: Format, limit: Option<u64>, out: &mut impl Write) -> Result<ScanStats> {
    let mut stats = ScanStats::default();
    let mut n = 0u64;
    let mut err: Option<std::io::Error> = None;
    if format == Format::Csv {
        csv_record(out, &FILES_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>())?;
    }
    corpus.scan_rows(filter, &mut stats, &mut |row| {
        if limit.is_some_and(|l| n >= l) {
            return false;
        }
        n += 1;
        let r = match format {
            Format::Jsonl => serde_json::to_writer(&mut *out, &row_json(&row)).map_err(std::io::Error::other).and_then(|_| writeln!(out)),
            Format::Csv => {
                let v = row_json(&row);
                csv_record(out, &FILES_COLUMNS.iter().map(|c| csv_field(&v[*c])).collect::<Vec<_>>())
            }
            Format::Table => {
                writeln!(out, "{}  {:>9}  {:<15}  {} {}  {}", &row.hash.to_hex()[..12], row.size, row.skip_reason.map_or("", |s| s.as_str()), row.project_name, row.project_version, row.inner_path())
            }
        };
        match r {
            Ok(()) => true,
            Err(e) => {
                err = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(stats)
}
