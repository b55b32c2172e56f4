//! `seal`: seals the open shard.

use super::*;

/// Runs it; the exit status says how it went.
pub(crate) fn run(a: crate::cli::SealArgs, env: &Env<'_>, out: &mut impl Write) -> Result<ExitCode> {
    let crate::cli::SealArgs { json } = a;
    let (root, quiet, reporter) = (env.root, env.quiet, env.reporter);
    let mut corpus = Corpus::open(root, Access::Write)?;
    install_interrupt_handler(quiet, "removing the shard being written; the open shard stays as it was");
    match corpus.seal(Ctx::new(reporter, &CANCEL))? {
        None => writeln!(out, "nothing to seal: there is no open shard with distributions")?,
        Some(s) if json => {
            serde_json::to_writer_pretty(&mut *out, &s.manifest)?;
            writeln!(out)?;
        }
        Some(s) => {
            let m = &s.manifest;
            writeln!(
                out,
                "sealed shard {:06}: {} distributions, {} files, {} unique blobs; {} of contents in a {} pack ({:.1}x)",
                s.shard,
                thousands(m.distributions),
                thousands(m.files),
                thousands(m.unique_blobs),
                human_bytes(m.blob_bytes),
                human_bytes(m.pack_bytes),
                m.blob_bytes as f64 / m.pack_bytes.max(1) as f64
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
