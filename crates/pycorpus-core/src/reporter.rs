//! Progress reporting: library code calls a [`Reporter`]; front ends draw it.

/// Receives progress of long operations. Every method has an empty default.
pub trait Reporter: Sync {
    /// A phase starts: `total` units of work (0 when unknown), of which `bytes` bytes.
    fn start(&self, _phase: &str, _total: u64, _bytes: u64) {}
    /// `items` units and `bytes` bytes more are done.
    fn advance(&self, _items: u64, _bytes: u64) {}
    /// A line for the user (a failure, a skipped input) that does not stop the work.
    fn note(&self, _message: &str) {}
    /// The current phase is over.
    fn finish(&self) {}
}

/// Reports nothing.
pub struct NoReporter;
impl Reporter for NoReporter {}
