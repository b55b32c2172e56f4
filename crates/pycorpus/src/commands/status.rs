//! `status`: what the corpus holds.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::StatusArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::StatusArgs { format } = a;
    let root = env.root;
    let corpus = Corpus::open(root, Access::Read)?;
    print_status(out, &corpus.status()?, format)?;
    Ok(ExitCode::SUCCESS)
}

fn print_status(out: &mut impl Write, s: &Status, format: Format) -> Result<()> {
    match format {
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, s)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let head = [
                "shard",
                "state",
                "distributions",
                "failed",
                "files",
                "stored_files",
                "unique_blobs",
                "blob_bytes",
                "original_bytes",
                "disk_bytes",
                "search_index_bytes",
                "first_upload",
                "last_upload",
            ];
            csv_record(out, &head.iter().map(|h| h.to_string()).collect::<Vec<_>>())?;
            for sh in s.shards.iter().chain(std::iter::once(&s.total)) {
                let v = serde_json::to_value(sh)?;
                let mut rec = vec![if sh.number == 0 { "total".to_string() } else { format!("{:06}", sh.number) }];
                rec.extend(head[1..].iter().map(|h| csv_field(&v[*h])));
                csv_record(out, &rec)?;
            }
        }
        Format::Table => {
            let t = &s.total;
            writeln!(out, "corpus         {}", s.corpus.display())?;
            writeln!(out, "distributions  {} ({} failed)", thousands(t.distributions), thousands(t.failed))?;
            writeln!(out, "files          {} indexed, {} with stored contents", thousands(t.files), thousands(t.stored_files))?;
            writeln!(out, "unique blobs   {} ({})", thousands(t.unique_blobs), human_bytes(t.blob_bytes))?;
            writeln!(out, "sizes          {} indexed, {} unique, {} on disk", human_bytes(t.original_bytes), human_bytes(t.blob_bytes), human_bytes(t.disk_bytes))?;
            writeln!(out, "ratios         dedup {:.1}x, overall {:.1}x", s.dedup_ratio, s.overall_ratio)?;
            // sealed shards: with a search index, in all, and their bytes on disk
            let (indexed, all, disk) = s.shards.iter().filter(|sh| sh.state == "sealed").fold((0, 0, 0), |(i, a, d), sh| (i + usize::from(sh.search_index_bytes > 0), a + 1, d + sh.disk_bytes));
            if all > 0 {
                let share = pycorpus_report::pct(t.search_index_bytes, disk);
                writeln!(out, "search index   {} in {indexed} of {all} sealed shard(s) ({share:.1} % of their bytes on disk)", human_bytes(t.search_index_bytes))?;
            }
            if let (Some(a), Some(b)) = (&t.first_upload, &t.last_upload) {
                writeln!(out, "uploads        {a} .. {b}")?;
            }
            writeln!(out)?;
            let rows: Vec<Vec<String>> = s
                .shards
                .iter()
                .map(|sh| {
                    vec![
                        format!("{:06}", sh.number),
                        sh.state.clone(),
                        thousands(sh.distributions),
                        thousands(sh.files),
                        thousands(sh.unique_blobs),
                        human_bytes(sh.blob_bytes),
                        human_bytes(sh.disk_bytes),
                        if sh.search_index_bytes > 0 { human_bytes(sh.search_index_bytes) } else { "-".into() },
                    ]
                })
                .collect();
            if rows.is_empty() {
                writeln!(out, "no shards yet: add distributions with `pycorpus add PATH`")?;
            } else {
                table(out, &["shard", "state", "dists", "files", "blobs", "unique", "on disk", "search idx"], &rows, &[false, false, true, true, true, true, true, true])?;
            }
            if let Some(sync) = &s.sync {
                let counts: Vec<String> = sync.files.iter().map(|(k, n)| format!("{} {k}", thousands(*n))).collect();
                writeln!(out, "\nsync           files: {}; {} project(s) with a recorded serial", counts.join(", "), thousands(sync.projects_with_serial))?;
                if !sync.failed.is_empty() {
                    writeln!(out, "failed files (latest first; the next sync retries them):")?;
                    for f in &sync.failed {
                        writeln!(out, "  {} {}: {} (attempts: {})", f.project, f.file_name, f.reason, f.attempts)?;
                    }
                }
            }
        }
    }
    Ok(())
}
