//! Progress of long calls: drawn by indicatif on stderr when it is a terminal, or handed to a
//! Python callable (the wrapper passes a tqdm bar in a notebook). The work runs on another
//! thread and only counts; the callable is called on the calling thread, which holds the GIL
//! anyway while it waits (see `interruptible`), ten times a second at most and once at the end.

use pycorpus_core::Reporter;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::sync::Mutex;

/// Where progress goes.
pub(crate) enum Mode {
    /// A bar on stderr, drawn only when it is a terminal.
    Terminal,
    /// Nowhere.
    Quiet,
    /// `callable(phase, done, total, unit)`; `total` is None when unknown.
    Callback(Py<PyAny>),
}

impl Mode {
    /// The `progress` argument: None (a terminal bar), False (quiet), True (a terminal bar),
    /// or a callable.
    pub(crate) fn from_arg(arg: Option<&Bound<'_, PyAny>>) -> PyResult<Mode> {
        let Some(a) = arg.filter(|a| !a.is_none()) else { return Ok(Mode::Terminal) };
        if let Ok(on) = a.extract::<bool>() {
            return Ok(if on { Mode::Terminal } else { Mode::Quiet });
        }
        if a.is_callable() {
            return Ok(Mode::Callback(a.clone().unbind()));
        }
        Err(PyTypeError::new_err("progress: expected None, True, False or a callable(phase, done, total, unit)"))
    }
}

#[derive(Clone, Default)]
struct State {
    phase: String,
    unit: &'static str,
    done: u64,
    total: Option<u64>,
    /// Changed since the callable last saw it.
    fresh: bool,
}

/// The counters of one long call.
pub(crate) struct Progress {
    mode: Mode,
    state: Mutex<State>,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress {
    pub(crate) fn new(mode: Mode) -> Progress {
        Progress { mode, state: Mutex::new(State::default()), bar: Mutex::new(None) }
    }

    pub(crate) fn quiet() -> Progress {
        Progress::new(Mode::Quiet)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A phase starts (the previous one, if any, is over).
    pub(crate) fn begin(&self, phase: &str, unit: &'static str, total: Option<u64>) {
        *self.state() = State { phase: phase.to_string(), unit, done: 0, total, fresh: true };
        if matches!(self.mode, Mode::Terminal) {
            // Without a total, a counter; it becomes a bar when a `set` brings the total (a
            // download's size once its metainfo is known, a selection's once it is scanned).
            let b = match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::new_spinner(),
            };
            b.set_style(style(total.is_some(), unit));
            b.set_prefix(phase.to_string());
            if let Some(old) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).replace(b) {
                old.finish_and_clear();
            }
        }
    }

    pub(crate) fn inc(&self, n: u64) {
        let mut s = self.state();
        s.done += n;
        s.fresh = true;
        drop(s);
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            b.inc(n);
        }
    }

    /// Where the phase is (and its total, once known).
    pub(crate) fn set(&self, done: u64, total: Option<u64>) {
        let mut s = self.state();
        s.done = done;
        s.total = total.or(s.total);
        s.fresh = true;
        let unit = s.unit;
        drop(s);
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if let Some(t) = total
                && b.length() != Some(t)
            {
                if b.length().is_none() {
                    b.set_style(style(true, unit));
                }
                b.set_length(t);
            }
            b.set_position(done);
        }
    }

    /// Where a visit of the selected blobs is (grep, extract, analyze, export): bytes done of
    /// the selection's.
    /// Passes news to the callable, if any (on the calling thread, with the GIL).
    pub(crate) fn poll(&self, py: Python<'_>) -> PyResult<()> {
        let Mode::Callback(f) = &self.mode else { return Ok(()) };
        let s = {
            let mut s = self.state();
            if !s.fresh || s.phase.is_empty() {
                return Ok(());
            }
            s.fresh = false;
            s.clone()
        };
        f.bind(py).call1((s.phase, s.done, s.total, s.unit))?;
        Ok(())
    }

    /// The call is over: the bar goes away.
    pub(crate) fn end(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

/// How a terminal bar looks: a bar with a total, a counter without.
fn style(bar: bool, unit: &str) -> indicatif::ProgressStyle {
    let tmpl = match (bar, unit) {
        (true, "bytes") => "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}".to_string(),
        (true, _) => "{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta}".to_string(),
        (false, "bytes") => "{prefix} {bytes} {bytes_per_sec} {elapsed}".to_string(),
        (false, _) => format!("{{prefix}} {{pos}} {unit} {{per_sec}} {{elapsed}}"),
    };
    indicatif::ProgressStyle::with_template(&tmpl).expect("valid template").progress_chars("=> ")
}

/// The libraries' phases (ingest, sync, the visits of blobs) as progress.
impl Reporter for Progress {
    fn progress(&self, done: u64, total: Option<u64>) {
        self.set(done, total);
    }
    fn start(&self, phase: &str, total: u64, _bytes: u64) {
        self.begin(phase, "files", (total > 0).then_some(total));
    }
    fn advance(&self, items: u64, _bytes: u64) {
        self.inc(items);
    }
    fn note(&self, message: &str) {
        match &self.mode {
            Mode::Terminal => match self.bar.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                Some(b) if !b.is_hidden() => b.println(message),
                _ => {}
            },
            Mode::Quiet | Mode::Callback(_) => {}
        }
    }
}
