//! `cat`: prints a file, by blob id or by project, version and path.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::CatArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::CatArgs { what } = a;
    let root = env.root;
    let corpus = Corpus::open(root, Access::Read)?;
    cat(&corpus, &what, out)?;
    Ok(ExitCode::SUCCESS)
}

fn cat(corpus: &Corpus, what: &[String], out: &mut impl Write) -> Result<()> {
    let oid: Oid = match what {
        [oid] => oid.parse().with_context(|| format!("{oid:?} is not a blob id; to name a file give PROJECT VERSION PATH"))?,
        [project, version, path] => {
            let rows = corpus.find_files(project, version, path)?;
            match rows.as_slice() {
                [] => bail!("no file {path:?} in {project} {version} (list them with: pycorpus ls --project {project} --version {version})"),
                [row] => {
                    if let Some(reason) = row.skip_reason {
                        bail!("{} is indexed but its contents are not stored (skip reason: {reason})", row.path);
                    }
                    row.hash
                }
                many => {
                    let distinct: std::collections::BTreeSet<Oid> = many.iter().map(|r| r.hash).collect();
                    if distinct.len() > 1 {
                        let list = many.iter().take(10).map(|r| format!("  {} {}", r.project_release, r.inner_path())).collect::<Vec<_>>().join("\n");
                        bail!("{path:?} matches {} files with different contents; give the full path:\n{list}", many.len());
                    }
                    many[0].hash
                }
            }
        }
        _ => bail!("give a blob id, or PROJECT VERSION PATH"),
    };
    let data = corpus.read_blob(&oid)?.with_context(|| format!("blob {oid} is not stored in this corpus"))?;
    out.write_all(&data)?;
    Ok(())
}
