//! The floor under reading blobs out of a shard: zstd alone, decoding on all cores, in memory,
//! exactly the frame prefixes that hold the blobs asked for (the pack in the page cache).
//!
//!     cargo run --release -p pycorpus-store --example decode_floor -- SHARD_DIR OIDS_FILE [THREADS]
//!
//! OIDS_FILE: one blob id (hex) per line; THREADS: decoding threads (default: all cores).
//! Prints one JSON line: blobs, frames, bytes, seconds.

use pycorpus_store::{Oid, PackReader};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (shard, oids) = (args.next().expect("usage: decode_floor SHARD_DIR OIDS_FILE [THREADS]"), args.next().expect("OIDS_FILE"));
    if let Some(n) = args.next() {
        let n: usize = n.parse().expect("THREADS: a number");
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().expect("thread pool");
    }
    let pack = PackReader::open(std::path::Path::new(&shard)).expect("open pack");
    let text = std::fs::read_to_string(&oids).expect("read oids");
    // Per frame: how far into it the wanted blobs reach.
    let mut upto: BTreeMap<u32, usize> = BTreeMap::new();
    let mut blobs = 0u64;
    let mut bytes = 0u64;
    for line in text.lines().filter(|l| !l.is_empty()) {
        let oid: Oid = line.trim().parse().expect("hex oid");
        if let Some(e) = pack.find(&oid) {
            let end = (e.offset + e.len) as usize;
            let u = upto.entry(e.frame).or_default();
            *u = (*u).max(end);
            blobs += 1;
            bytes += u64::from(e.len);
        }
    }
    let frames: Vec<(u32, usize)> = upto.into_iter().collect();
    let t = Instant::now();
    let decoded: usize = frames
        .par_iter()
        .map_init(
            || (Vec::new(), Vec::new()),
            |(out, scratch), &(f, u)| {
                pack.decode_frame_prefix(f as usize, u, out, scratch).expect("decode");
                u
            },
        )
        .sum();
    let secs = t.elapsed().as_secs_f64();
    println!("{{\"blobs\": {blobs}, \"frames\": {}, \"bytes\": {bytes}, \"decoded_bytes\": {decoded}, \"threads\": {}, \"seconds\": {secs:.4}}}", frames.len(), rayon::current_num_threads());
}
