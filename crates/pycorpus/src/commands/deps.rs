//! `deps`: a project's requirements over its releases, or its reverse dependencies.

use super::*;
use pycorpus_catalog::{REQUIREMENTS_COLUMNS, RequirementRow};
use std::collections::BTreeSet;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::DepsArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let query = a.spec.build(&a.project)?;
    let corpus = Corpus::open(env.root, Access::Read)?;
    if a.format == Format::Csv {
        csv_record(out, &REQUIREMENTS_COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>())?;
    }
    let (mut rows, mut releases, mut projects) = (0u64, 0u64, BTreeSet::new());
    // a release's lines said once: its distributions and files often repeat each other
    let mut release: (String, String) = Default::default();
    let mut said: BTreeSet<(String, String)> = BTreeSet::new();
    let mut err: Option<std::io::Error> = None;
    let coverage = query.run(&corpus, &mut |r: RequirementRow| {
        rows += 1;
        let this = (r.dist.project_name.clone(), r.dist.project_version.clone());
        if this != release {
            releases += 1;
            said.clear();
            release = this;
        }
        projects.insert(r.dist.project_name.clone());
        let res = match a.format {
            Format::Jsonl => serde_json::to_writer(&mut *out, &r.to_json()).map_err(std::io::Error::other).and_then(|_| writeln!(out)),
            Format::Csv => {
                let v = r.to_json();
                csv_record(out, &REQUIREMENTS_COLUMNS.iter().map(|c| csv_field(&v[*c])).collect::<Vec<_>>())
            }
            Format::Table => {
                let (kind, text) = (r.requirement.kind.as_text(), r.display());
                match said.insert((kind.clone(), text.clone())) {
                    true => writeln!(out, "{} {}  {kind:<12} {text}", r.dist.project_name, r.dist.project_version),
                    false => Ok(()),
                }
            }
        };
        match res {
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
    if !coverage.shards_without_tables.is_empty() {
        let list: Vec<String> = coverage.shards_without_tables.iter().map(|n| n.to_string()).collect();
        eprintln!("warning: shard(s) {} were sealed before the dependency tables existed and are not in this answer; `pycorpus reindex-metadata` adds them", list.join(", "));
    }
    if !env.quiet {
        let what = if a.spec.reverse { format!("releases requiring {}", query.project()) } else { format!("releases of {}", query.project()) };
        eprintln!("{} requirement rows; {} {what} ({} project(s))", thousands(rows), thousands(releases), thousands(projects.len() as u64));
    }
    Ok(ExitCode::SUCCESS)
}
