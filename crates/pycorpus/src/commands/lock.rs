//! `lock`: writes the corpus's lock file.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::LockArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::LockArgs { output } = a;
    let root = env.root;
    let corpus = Corpus::open(root, Access::Read)?;
    match output {
        Some(p) => {
            corpus.write_lock_file(&p)?;
        }
        None => {
            corpus.write_lock(out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
