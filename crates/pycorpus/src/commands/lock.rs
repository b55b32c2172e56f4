//! `lock`: writes the corpus's lock file.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::LockArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::LockArgs { output } = a;
    let root = env.root;
    let corpus = Corpus::open(root, Access::Read)?;
    match output {
        Some(p) => {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&p).with_context(|| format!("writing {}", p.display()))?);
            corpus.write_lock(&mut f)?;
            f.flush().with_context(|| format!("writing {}", p.display()))?;
        }
        None => {
            corpus.write_lock(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
