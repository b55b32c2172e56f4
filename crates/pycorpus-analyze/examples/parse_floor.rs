//! The floor under `analyze`: ruff's parser alone over a folder of Python files, on all
//! cores, files already in memory, called as `analyze` calls it (targeting Python 3.7, so that
//! newer syntax is reported; `parse_default_seconds`: with the parser's default options); and
//! our full per-file analysis of the same files.
//!
//!     cargo run --release -p pycorpus-analyze --example parse_floor -- DIR
//!
//! Prints one JSON line: files, bytes, parse_seconds, parse_default_seconds, analyze_seconds.

use rayon::prelude::*;

/// The allocator `pycorpus` uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: parse_floor DIR");
    let mut files = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "py") {
                files.push(std::fs::read(&p).expect("read"));
            }
        }
    }
    let bytes: usize = files.iter().map(Vec::len).sum();
    let pool = rayon::ThreadPoolBuilder::new().stack_size(pycorpus_analyze::STACK_BYTES).build().expect("pool");
    let parse_all = |target: Option<ruff_python_ast::PythonVersion>| {
        let t = Instant::now();
        let parsed: usize = pool.install(|| {
            files
                .par_iter()
                .map(|f| {
                    let text = String::from_utf8_lossy(f);
                    let mut options = ruff_python_parser::ParseOptions::from(ruff_python_parser::Mode::Module);
                    if let Some(v) = target {
                        options = options.with_target_version(v);
                    }
                    usize::from(ruff_python_parser::parse_unchecked(&text, options).errors().is_empty())
                })
                .sum()
        });
        (parsed, t.elapsed().as_secs_f64())
    };
    let (_, parse_default) = parse_all(None);
    let (parsed, parse) = parse_all(Some(ruff_python_ast::PythonVersion::PY37));
    let t = Instant::now();
    let limits = pycorpus_analyze::Limits::default();
    let ok: usize = pool.install(|| files.par_iter().map(|f| usize::from(pycorpus_analyze::analyze_guarded(f, &limits).status == pycorpus_analyze::Status::Ok)).sum());
    let analyze = t.elapsed().as_secs_f64();
    println!(
        "{{\"files\": {}, \"bytes\": {bytes}, \"parsed_ok\": {parsed}, \"analyzed_ok\": {ok}, \"parse_seconds\": {parse:.3}, \"parse_default_seconds\": {parse_default:.3}, \"analyze_seconds\": {analyze:.3}}}",
        files.len()
    );
}
