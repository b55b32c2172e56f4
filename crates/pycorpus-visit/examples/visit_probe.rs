//! The visit engine alone: every unique blob of one extension read through `visit_blobs`
//! (index scan, planning, decoding on all cores, results in order) to a consumer that only
//! takes each blob's length. What any front end over the engine (the Python module's
//! `iter_files`, grep, extract) costs beyond this is its own.
//!
//!     MIMALLOC_ALLOW_THP=0 cargo run --release -p pycorpus-visit --example visit_probe -- CORPUS [EXT] [RUNS]
//!
//! (transparent huge pages off, as the module sets for its mimalloc; bench/iter_files.py does).
//!
//! Prints one JSON line per run: blobs, bytes, wall seconds, CPU seconds of the process, and
//! `first`: seconds until the first blob reached the consumer (what the plan costs up front).

/// The allocator of `pycorpus` and of the Python module, so that allocation costs what it
/// costs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// User + system CPU seconds of this process so far (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 a second on Linux).
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("usage: visit_probe CORPUS [EXT] [RUNS]");
    let ext = args.next().unwrap_or_else(|| "py".into());
    let runs: usize = args.next().map_or(1, |r| r.parse().expect("RUNS: a number"));
    let corpus = pycorpus_core::Corpus::open(std::path::Path::new(&root), pycorpus_core::Access::Read).expect("open the corpus");
    let filter = pycorpus_catalog::Filter { exts: vec![ext], unique: true, ..Default::default() };
    for _ in 0..runs {
        let (t, cpu) = (std::time::Instant::now(), cpu_seconds());
        let mut bytes = 0u64;
        let mut first: Option<f64> = None;
        let s = pycorpus_visit::visit_blobs(&corpus, &filter, &pycorpus_visit::VisitOptions::default(), pycorpus_core::Ctx::quiet(), &|| (), &|_, _, _, blob| Ok(blob.len() as u64), &mut |n| {
            bytes += n;
            first.get_or_insert_with(|| t.elapsed().as_secs_f64());
            Ok(())
        })
        .expect("visit");
        println!(
            "{{\"blobs\": {}, \"bytes\": {bytes}, \"seconds\": {:.4}, \"cpu_seconds\": {:.2}, \"first\": {:.3}}}",
            s.blobs_read,
            t.elapsed().as_secs_f64(),
            cpu_seconds() - cpu,
            first.unwrap_or(0.0)
        );
    }
}
