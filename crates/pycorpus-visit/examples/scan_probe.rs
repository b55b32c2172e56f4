//! Times the index scan of a visit alone (every frame ruled out, so nothing is decoded):
//! `cargo run --release -p pycorpus-visit --example scan_probe -- CORPUS [EXT]`.

/// The allocator of `pycorpus` and of the Python module, so that allocation costs what it
/// costs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("corpus folder");
    let ext = args.next().unwrap_or_else(|| "py".into());
    let corpus = pycorpus_core::Corpus::open(std::path::Path::new(&root), pycorpus_core::Access::Read).expect("open");
    let filter = pycorpus_catalog::Filter { exts: vec![ext], unique: true, ..Default::default() };
    let none = |_: &std::path::Path, p: &pycorpus_store::PackReader| Ok(Some(pycorpus_store::Candidates::Frames(pycorpus_store::FrameSet::none(p.gram_units()))));
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let opts = pycorpus_visit::VisitOptions { blob_filter: Some(&none), ..Default::default() };
        let s = pycorpus_visit::visit_blobs(&corpus, &filter, &opts, pycorpus_core::Ctx::quiet(), &|| (), &|_, _, _, _| Ok(()), &mut |_| Ok(())).expect("visit");
        eprintln!("{:.3} s: {} rows read, {} matched, {} blobs", t.elapsed().as_secs_f64(), s.scan.rows_read, s.scan.rows_matched, s.candidate_blobs);
    }
}
