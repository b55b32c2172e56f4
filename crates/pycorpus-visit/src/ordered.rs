//! An ordered parallel map: items are worked on by several threads at once, and their results
//! reach a single consumer in item order, as soon as each is next in line. Unlike a rayon
//! `collect` per batch there is no barrier where threads wait for the slowest item of a
//! batch, and the consumer (output, usually) runs while the workers go on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

/// How far the consumer has got, and whether everyone should stop.
struct Progress {
    sunk: Mutex<(usize, bool)>,
    moved: Condvar,
}

impl Progress {
    fn stop(&self) {
        self.sunk.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.moved.notify_all();
    }
}

/// Stops everyone when a worker unwinds, so that nobody waits for its result forever.
struct StopOnPanic<'a>(&'a Progress);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// How the work is spread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pool {
    /// Worker threads.
    pub(crate) threads: usize,
    /// Their stack (0: the default).
    pub(crate) stack_size: usize,
    /// Items worked on or waiting beyond the last one sunk, at most.
    pub(crate) window: usize,
}

/// Calls `work(state, i)` for every `i` in `0..n` on the pool's threads (each with its own
/// state from `init`), and `sink` on the results in order of `i`. Stops early when `sink` fails (returning
/// its error) or `cancel` is set; a panic in a worker is resumed here.
pub(crate) fn ordered_map<S, T: Send, E>(
    n: usize,
    pool: Pool,
    cancel: &AtomicBool,
    init: &(dyn Fn() -> S + Sync),
    work: &(dyn Fn(&mut S, usize) -> T + Sync),
    sink: &mut dyn FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    let (threads, window) = (pool.threads, pool.window.max(1));
    let next = AtomicUsize::new(0);
    let progress = Progress { sunk: Mutex::new((0, false)), moved: Condvar::new() };
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, T)>();
        for _ in 0..threads.clamp(1, n.max(1)) {
            let (tx, next, progress) = (tx.clone(), &next, &progress);
            let mut builder = std::thread::Builder::new().name("pycorpus-worker".into());
            if pool.stack_size > 0 {
                builder = builder.stack_size(pool.stack_size);
            }
            let spawned = builder.spawn_scoped(s, move || {
                let _guard = StopOnPanic(progress);
                let mut state = init();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    {
                        let mut g = progress.sunk.lock().unwrap_or_else(|e| e.into_inner());
                        while !g.1 && i >= g.0 + window {
                            g = progress.moved.wait(g).unwrap_or_else(|e| e.into_inner());
                        }
                        if g.1 {
                            return;
                        }
                    }
                    if cancel.load(Ordering::SeqCst) || tx.send((i, work(&mut state, i))).is_err() {
                        return;
                    }
                }
            });
            // The system refusing a thread is as fatal here as for rayon's pool.
            spawned.expect("cannot start a worker thread");
        }
        drop(tx);
        let mut waiting: BTreeMap<usize, T> = BTreeMap::new();
        let mut sunk = 0;
        let result = (|| {
            while sunk < n {
                if cancel.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let Ok((i, t)) = rx.recv() else { return Ok(()) };
                waiting.insert(i, t);
                while let Some(t) = waiting.remove(&sunk) {
                    sink(t)?;
                    sunk += 1;
                    progress.sunk.lock().unwrap_or_else(|e| e.into_inner()).0 = sunk;
                    progress.moved.notify_all();
                }
            }
            Ok(())
        })();
        // Workers still waiting for room give up; their results are not wanted.
        progress.stop();
        drop(rx);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order_whatever_the_timing() {
        let cancel = AtomicBool::new(false);
        let mut got = Vec::new();
        let r: Result<(), ()> = ordered_map(
            200,
            Pool { threads: 4, stack_size: 0, window: 3 },
            &cancel,
            &|| 0u64,
            &|calls, i| {
                *calls += 1;
                // later items finish first now and then
                std::thread::sleep(std::time::Duration::from_micros(((200 - i) % 7) as u64 * 50));
                i * 2
            },
            &mut |x| {
                got.push(x);
                Ok(())
            },
        );
        assert!(r.is_ok());
        assert_eq!(got, (0..200).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_failing_sink_stops_the_workers() {
        let cancel = AtomicBool::new(false);
        let worked = AtomicUsize::new(0);
        let r = ordered_map(
            10_000,
            Pool { threads: 2, stack_size: 0, window: 4 },
            &cancel,
            &|| (),
            &|_, i| {
                worked.fetch_add(1, Ordering::SeqCst);
                i
            },
            &mut |x| if x == 5 { Err(x) } else { Ok(()) },
        );
        assert_eq!(r, Err(5));
        assert!(worked.load(Ordering::SeqCst) < 100, "workers stop soon after: {}", worked.load(Ordering::SeqCst));
    }

    #[test]
    fn a_panicking_worker_is_reported_not_hung() {
        let cancel = AtomicBool::new(false);
        let r = std::panic::catch_unwind(|| {
            let _ = ordered_map(100, Pool { threads: 2, stack_size: 0, window: 2 }, &cancel, &|| (), &|_, i| if i == 7 { panic!("boom") } else { i }, &mut |_| Ok::<(), ()>(()));
        });
        assert!(r.is_err(), "the panic reaches the caller");
    }

    #[test]
    fn nothing_to_do() {
        let cancel = AtomicBool::new(false);
        let r: Result<(), ()> = ordered_map(0, Pool { threads: 2, stack_size: 0, window: 2 }, &cancel, &|| (), &|_, _| unreachable!(), &mut |_: ()| unreachable!());
        assert!(r.is_ok());
    }
}
