//! The allocator of pycorpus's binaries and its policy, in one place for every front end:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: pycorpus_alloc::Allocator = pycorpus_alloc::Allocator;
//! fn main() { pycorpus_alloc::configure(); /* ... */ }
//! ```
//!
//! mimalloc, because parsing allocates millions of small tree nodes on every core, which
//! glibc's allocator serves slowly (about a fifth of `analyze`'s time went to malloc and free),
//! and `iter_files` hands Python hundreds of MB in blob-sized buffers, which the system
//! allocator maps and unmaps one by one. Its defaults are tuned for throughput, not for a
//! bounded resident set, so two of them change:
//! - no transparent huge pages (the `no_thp` build feature: mimalloc does not ask for them; a
//!   system that forces them on every mapping still gives them): with them each first touch of a
//!   2 MB region zeroes all of it, and an `iter_files` run touched ~180 MB instead of ~145 MB;
//!   on a VM that takes back idle memory, that cost 0.5 s of system time per cold run instead
//!   of 0.2 s;
//! - freed memory goes back to the system after [`PURGE_DELAY_MS`], not after mimalloc's
//!   1,000 ms: the commands free large buffers at a high rate (a decoded frame, a Parquet
//!   column, the heap of each short-lived decoding thread), and a second's worth of them
//!   stayed resident: `verify` of a 4x corpus held 200 MB for a 30 MB heap.

/// The global allocator of the binaries.
pub use mimalloc::MiMalloc as Allocator;

/// How long freed memory stays mapped before mimalloc returns it, in milliseconds. Measured
/// on the 4x scale corpus (bench/scale_rerun.py, this crate's policy against mimalloc's
/// defaults): peak RSS of verify 201 -> 120 MB, grep 220 -> 136, stream 374 -> 243, analyze
/// 227 -> 175. The cost is page faults: ~10 % more CPU on the readers that churn most (grep
/// of a rare literal and iter_files at 32x, A/B on one corpus); 50 ms saved ~25 MB more and
/// cost 5-15 % of time.
pub const PURGE_DELAY_MS: i64 = 100;

/// `mi_option_purge_delay` in the headers of the pinned libmimalloc-sys (v3), which leaves it
/// unnamed.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Applies the policy. Call it first thing; a `MIMALLOC_PURGE_DELAY` set by the user wins.
pub fn configure() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain option, read each time mimalloc schedules a purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as _) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> i64 {
        // SAFETY: reads a plain option.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
    }

    #[test]
    fn the_option_number_names_the_purge_delay() {
        // mimalloc's documented default identifies the number: 1,000 ms until set (the option
        // next to it, eager_commit_delay, defaults to 1; use_numa_nodes to 0)
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
            configure();
            assert_eq!(purge_delay(), PURGE_DELAY_MS);
        }
    }
}
