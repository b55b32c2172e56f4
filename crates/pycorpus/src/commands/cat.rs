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
        [project, version, path] => corpus.file_blob(project, version, path)?,
        _ => bail!("give a blob id, or PROJECT VERSION PATH"),
    };
    let data = corpus.read_blob(&oid)?.with_context(|| format!("blob {oid} is not stored in this corpus"))?;
    out.write_all(&data)?;
    Ok(())
}
