//! `export codesearchnet`: a CodeSearchNet-format dataset.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::CodesearchnetArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let (root, quiet) = (env.root, env.quiet);
    let split = pycorpus_dataset::Split::parse(&a.split).map_err(anyhow::Error::msg).context("--split")?;
    if !(0.0..=1.0).contains(&a.near_duplicates) {
        bail!("--near-duplicates: expected a Jaccard similarity between 0 and 1, got {}", a.near_duplicates);
    }
    set_threads(a.threads)?;
    let corpus = Corpus::open(root, Access::Read)?;
    let opts = pycorpus_dataset::ExportOptions {
        filter: build_filter(&a.filter)?,
        scenario: match a.scenario {
            crate::cli::ScenarioArg::Docstring => pycorpus_dataset::Scenario::Docstring,
            crate::cli::ScenarioArg::Comments => pycorpus_dataset::Scenario::Comments,
            crate::cli::ScenarioArg::Both => pycorpus_dataset::Scenario::Both,
        },
        split,
        format: match a.format {
            crate::cli::ExportFormatArg::JsonlGz => pycorpus_dataset::Format::JsonlGz,
            crate::cli::ExportFormatArg::Parquet => pycorpus_dataset::Format::Parquet,
        },
        nested: a.nested,
        filters: pycorpus_dataset::Filters {
            min_doc_tokens: a.min_doc_tokens,
            max_doc_tokens: a.max_doc_tokens,
            min_code_lines: a.min_code_lines,
            drop_tests: !a.keep_tests,
            drop_dunders: !a.keep_dunders,
            drop_urls_html: !a.keep_urls,
            english_only: !a.any_language,
            dedup_exact: !a.keep_duplicates,
            near_duplicate_jaccard: a.near_duplicates,
        },
        chunk_records: a.chunk.max(1),
        max_file_bytes: a.max_file_bytes,
    };
    install_interrupt_handler(quiet, STOPPING);
    let bar = VisitBar::new(quiet, "export");
    let started = std::time::Instant::now();
    let s = pycorpus_dataset::export(&corpus, &a.dest, &opts, &CANCEL, &|s| bar.update(s))?;
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
