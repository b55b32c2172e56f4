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
        let tmpl = if bytes > 0 {
            "{prefix:>7} [{bar:30}] {pos}/{len} {msg} {elapsed_precise} eta {eta}"
        } else {
            "{prefix:>7} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}"
        };
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
