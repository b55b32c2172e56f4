//! The rayon pool that works on the blobs of one frame in parallel
//! ([`crate::VisitOptions::parallel_blobs`]).
//!
//! Parsers recurse once per nesting level, so their threads need the stack the visit was asked
//! for. rayon's *global* pool cannot promise that: whoever builds it first (an earlier `grep`
//! in the same process, another library) chooses its stack, and a later parse on it overflows
//! and kills the process. So the visit owns its pool, built with the stack it needs.

use std::sync::{Arc, Mutex};

/// The pool last built, reused while the thread count and stack stay the same (a process
/// such as the Python module visits many times; threads are not started again each time).
static POOL: Mutex<Option<(usize, usize, Arc<rayon::ThreadPool>)>> = Mutex::new(None);

/// A pool of `threads` threads with a stack of `stack_size` bytes (0: rayon's default).
pub(crate) fn blob_pool(threads: usize, stack_size: usize) -> Result<Arc<rayon::ThreadPool>, rayon::ThreadPoolBuildError> {
    let mut held = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((t, s, pool)) = held.as_ref()
        && (*t, *s) == (threads, stack_size)
    {
        return Ok(pool.clone());
    }
    let mut builder = rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).thread_name(|i| format!("pycorpus-blobs-{i}"));
    if stack_size > 0 {
        builder = builder.stack_size(stack_size);
    }
    let pool = Arc::new(builder.build()?);
    *held = Some((threads, stack_size, pool.clone()));
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recurses `n` levels with a frame of about 1 KiB each.
    fn deep(n: usize) -> usize {
        let pad = std::hint::black_box([0u8; 1024]);
        if n == 0 { pad[0] as usize } else { deep(n - 1) + pad[n % 1024] as usize }
    }

    #[test]
    fn the_pool_has_the_stack_it_was_asked_for_even_when_the_global_pool_was_built_first() {
        // the global pool, built first with rayon's default stack (2 MiB)
        let _ = rayon::ThreadPoolBuilder::new().build_global();
        let pool = blob_pool(2, 64 << 20).expect("pool");
        // 16 MiB of frames: overflows a default stack, fits the pool's
        let got: Vec<usize> = pool.install(|| {
            use rayon::prelude::*;
            (0..4).into_par_iter().map(|_| deep(16 * 1024)).collect()
        });
        assert_eq!(got.len(), 4);
        assert!(Arc::ptr_eq(&pool, &blob_pool(2, 64 << 20).unwrap()), "the same settings reuse the pool");
        assert!(!Arc::ptr_eq(&pool, &blob_pool(1, 64 << 20).unwrap()), "other settings get their own");
    }
}
