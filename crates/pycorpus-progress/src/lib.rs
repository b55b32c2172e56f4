//! What every long operation takes from its caller: where its progress goes ([`Reporter`]) and
//! whether to stop ([`Ctx::cancelled`]), in one value ([`Ctx`]).
//!
//! Front ends implement [`Reporter`] (the CLI draws bars, the Python module calls tqdm or a
//! callable) and own the flag (set by Ctrl-C). Library code never looks at a terminal or a
//! signal: it reports, checks the flag between units of work, and on [`Cancelled`] leaves
//! nothing half-written behind.

use std::sync::atomic::{AtomicBool, Ordering};

/// Receives progress of long operations. Every method has an empty default.
pub trait Reporter: Sync {
    /// A phase starts: `total` units of work (0 when unknown), of which `bytes` bytes.
    fn start(&self, _phase: &str, _total: u64, _bytes: u64) {}
    /// `items` units and `bytes` bytes more are done.
    fn advance(&self, _items: u64, _bytes: u64) {}
    /// Where a phase measured in bytes (or rows) stands: `done` of `total`, `None` while
    /// unknown (it may grow as more becomes known: a visit learns its total shard by shard).
    fn progress(&self, _done: u64, _total: Option<u64>) {}
    /// A line for the user (a failure, a skipped input) that does not stop the work.
    fn note(&self, _message: &str) {}
    /// The current phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoReporter;
impl Reporter for NoReporter {}

/// The operation stopped because its caller asked it to (Ctrl-C): what it was writing was
/// removed or left for the next run to recover, as each operation documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted")]
pub struct Cancelled;

/// The context of one long operation: its progress reporter and its cancel flag.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// Where progress goes.
    pub reporter: &'a dyn Reporter,
    /// Set by the caller to ask the operation to stop.
    pub cancel: &'a AtomicBool,
}

/// A flag nobody sets, for [`Ctx::quiet`].
static NEVER: AtomicBool = AtomicBool::new(false);

impl<'a> Ctx<'a> {
    /// Reports to `reporter`, stops once `cancel` is set.
    pub fn new(reporter: &'a dyn Reporter, cancel: &'a AtomicBool) -> Ctx<'a> {
        Ctx { reporter, cancel }
    }

    /// Reports nothing and is never cancelled (tests, one-off calls).
    pub fn quiet() -> Ctx<'static> {
        Ctx { reporter: &NoReporter, cancel: &NEVER }
    }

    /// Whether the caller asked the operation to stop.
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the caller asked the operation to stop: `ctx.check()?` between
    /// units of work.
    pub fn check(&self) -> Result<(), Cancelled> {
        match self.cancelled() {
            true => Err(Cancelled),
            false => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_fails_once_the_flag_is_set() {
        let flag = AtomicBool::new(false);
        let ctx = Ctx::new(&NoReporter, &flag);
        assert_eq!(ctx.check(), Ok(()));
        flag.store(true, Ordering::SeqCst);
        assert!(ctx.cancelled());
        assert_eq!(ctx.check(), Err(Cancelled));
        assert_eq!(Ctx::quiet().check(), Ok(()));
    }
}
