//! `init`: creates the corpus folder (again: says it is one already).

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let root = env.root;
    let existed = root.join("corpus.toml").exists();
    let corpus = Corpus::init(root)?;
    if existed {
        writeln!(out, "{} is already a corpus", corpus.root().display())?;
    } else {
        writeln!(out, "created corpus {} (settings in corpus.toml)", corpus.root().display())?;
    }
    Ok(ExitCode::SUCCESS)
}
