//! `serve`: the web front end, until Ctrl-C.

use super::*;

/// Runs it: prints the address once it listens (the first line on stdout, for scripts that
/// bind port 0), then serves.
pub(crate) fn run(a: crate::cli::ServeArgs, env: &Env<'_>) -> Result<ExitCode> {
    let served = pycorpus_serve::serve(env.root, &a.spec, |addr| {
        println!("http://{addr}/");
        if !env.quiet {
            eprintln!("serving {} on http://{addr}/ (read-only; Ctrl-C to stop)", env.root.display());
        }
    });
    match served {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ pycorpus_serve::ServeError::NeedsToken(_)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
