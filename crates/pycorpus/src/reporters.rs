//! Progress bars: the only place that draws. Hidden when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pycorpus_core::Reporter;
use std::sync::Mutex;

/// Draws one bar per phase, with items, bytes, rate and ETA.
pub struct BarReporter {
    bar: Mutex<Option<ProgressBar>>,
    quiet: bool,
}

impl BarReporter {
    pub fn new(quiet: bool) -> BarReporter {
        BarReporter { bar: Mutex::new(None), quiet }
    }
}

impl Reporter for BarReporter {
    fn start(&self, phase: &str, total: u64, bytes: u64) {
        let target = if self.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let pb = ProgressBar::with_draw_target(Some(total), target);
        let tmpl = if bytes > 0 { "{prefix:>7} [{bar:30}] {pos}/{len} {msg} {elapsed_precise} eta {eta}" } else { "{prefix:>7} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}" };
        pb.set_style(ProgressStyle::with_template(tmpl).expect("valid template").progress_chars("=> "));
        pb.set_prefix(phase.to_string());
        pb.set_message(String::new());
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        *self.bar.lock().expect("lock") = Some(pb);
    }

    fn advance(&self, items: u64, _bytes: u64) {
        if let Some(pb) = self.bar.lock().expect("lock").as_ref() {
            pb.inc(items);
            let secs = pb.elapsed().as_secs_f64().max(0.001);
            pb.set_message(format!("{:.1}/s", pb.position() as f64 / secs));
        }
    }

    fn note(&self, message: &str) {
        if self.quiet {
            return;
        }
        match self.bar.lock().expect("lock").as_ref() {
            Some(pb) if !pb.is_hidden() => pb.println(message),
            _ => eprintln!("{message}"),
        }
    }

    fn finish(&self) {
        if let Some(pb) = self.bar.lock().expect("lock").take() {
            pb.finish_and_clear();
        }
    }
}

/// The bar of a command that reads the selected blobs: bytes of the selection done, its total
/// known once the index is scanned. Drawn when stderr is a terminal.
pub struct VisitBar(ProgressBar);

impl VisitBar {
    /// For commands whose results come at the end (analyze, export).
    pub fn new(quiet: bool, phase: &'static str) -> VisitBar {
        VisitBar::drawn(!quiet, phase)
    }

    /// For commands that write results to stdout as they go (grep, stream, extract): drawn only
    /// when stdout is a file (`> hits.txt`). A terminal showing the results, or a pipe whose
    /// reader (`| less`, `| head`) shares stderr's terminal, needs no bar across them.
    pub fn beside_results(quiet: bool, phase: &'static str) -> VisitBar {
        use std::os::fd::AsFd;
        let to_file = || std::io::stdout().as_fd().try_clone_to_owned().map(std::fs::File::from).and_then(|f| f.metadata()).is_ok_and(|m| m.is_file());
        VisitBar::drawn(!quiet && to_file(), phase)
    }

    fn drawn(shown: bool, phase: &'static str) -> VisitBar {
        let target = if shown { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let pb = ProgressBar::with_draw_target(None, target);
        pb.set_style(ProgressStyle::with_template("{prefix:>7} {bytes} {bytes_per_sec} {elapsed_precise}").expect("valid template"));
        pb.set_prefix(phase);
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        VisitBar(pb)
    }
}

/// The visit's bytes: a bar once the total is known.
impl Reporter for VisitBar {
    fn progress(&self, done: u64, total: Option<u64>) {
        if let Some(total) = total
            && self.0.length() != Some(total)
        {
            if self.0.length().is_none() {
                self.0
                    .set_style(ProgressStyle::with_template("{prefix:>7} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed_precise} eta {eta}").expect("valid template").progress_chars("=> "));
            }
            self.0.set_length(total);
        }
        self.0.set_position(done);
    }
}

/// A count that grows with no known end (report's rows read): a spinner.
pub struct Spinner(pub ProgressBar);

impl Reporter for Spinner {
    fn progress(&self, done: u64, _total: Option<u64>) {
        self.0.set_position(done);
    }
}

impl Drop for VisitBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
