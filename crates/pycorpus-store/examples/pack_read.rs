//! Benchmark: random blob reads from a sealed shard, in one process (no spawn cost).
//!
//!     cargo run --release -p pycorpus-store --example pack_read -- SHARD_DIR [N]
//!
//! Prints the time to open the pack, and the median / p99 / max latency of N reads of blobs
//! picked at random (fixed seed) from the index.

use pycorpus_store::PackReader;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: pack_read SHARD_DIR [N]");
    let n: usize = args.next().map(|s| s.parse().expect("N")).unwrap_or(1000);
    let t = Instant::now();
    let pack = PackReader::open(dir.as_ref()).expect("open pack");
    let open = t.elapsed();
    let mut state = 0x9e3779b97f4a7c15u64;
    let mut lat = Vec::with_capacity(n);
    let mut bytes = 0usize;
    for _ in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (oid, _) = pack.entry_at((state % pack.len() as u64) as usize);
        let t = Instant::now();
        bytes += pack.read(&oid).expect("read").expect("present").len();
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    let t = Instant::now();
    let mut total = 0usize;
    for i in 0..pack.frame_count() {
        total += pack.read_frame(i).expect("frame").len();
    }
    let secs = t.elapsed().as_secs_f64();
    println!("decoded all {} frames: {:.0} MB in {:.2} s = {:.0} MB/s (one core)", pack.frame_count(), total as f64 / 1e6, secs, total as f64 / 1e6 / secs);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!("open {:.2} ms; {n} reads ({bytes} bytes): median {:.2} ms, p99 {:.2} ms, max {:.2} ms", open.as_secs_f64() * 1e3, q(0.5), q(0.99), q(1.0));
}
