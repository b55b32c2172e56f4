//! `pycorpus report`: the index (who uploaded which file, when) joined with the facts of
//! `analyze` (what each blob uses) by blob id, counted as adoption over time in three views
//! (releases, projects per period, unique files), with packaging, minimum versions and
//! imports; written as one self-contained HTML page with inline SVG charts, the charts as SVG
//! and PNG files, and the tables as CSV and Parquet.

mod chart;
mod collect;
mod features;
mod figures;
mod metadata;
mod page;
mod period;
mod png;
mod spec;
mod tables;

pub use collect::{Data, Import, NO_BACKEND, PACKAGING, Selection, Tally, Totals, VIEWS, collect};
pub use features::{FEATURES, Feature, GROUPS, Test};
pub use figures::Drawing;
pub use metadata::{METADATA_FACTS, MetadataData, Required};
pub use period::{Period, month_of};
pub use spec::{DEFAULT_MIN_UNITS, DEFAULT_TOP, ReportSpec};
pub use tables::{Cell, TABLE_NAMES, Table, pct};

use pycorpus_core::{Corpus, Ctx};
use serde::Serialize;
use std::path::PathBuf;

/// Errors of a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the corpus.
    #[error("{0}")]
    Core(#[from] pycorpus_core::CoreError),
    /// Reading the facts.
    #[error("{0}")]
    Facts(#[from] pycorpus_analyze::store::StoreError),
    /// No facts to report on.
    #[error("no language facts in {0}: analyze the corpus first")]
    NoFacts(PathBuf),
    /// The sorted spills of the counting (disk full, a temporary file removed under us).
    #[error("counting through temporary files under the corpus's tmp/ folder: {0}")]
    Spill(#[source] std::io::Error),
    /// The unique filter (one row per blob) was given: a report counts every release, project
    /// and file, so it would silently count something else.
    #[error("the unique filter does not apply to a report: it counts every release, project and file")]
    UniqueFilter,
    /// An option out of its range or at odds with another (the message names them as the
    /// front end does).
    #[error("{0}")]
    Option(String),
    /// Ctrl-C during the scan: a report of part of the corpus would mislead, so none is written.
    #[error("interrupted: no report written")]
    Interrupted,
    /// Writing an output.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Where the outputs go.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// The HTML page.
    pub html: PathBuf,
    /// Folder for one SVG and one PNG per chart (`None`: none written).
    pub charts: Option<PathBuf>,
    /// Folder for the tables as CSV.
    pub csv: Option<PathBuf>,
    /// Folder for the tables as Parquet.
    pub parquet: Option<PathBuf>,
}

/// What a report wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ReportSummary {
    /// The page.
    pub html: PathBuf,
    /// Chart files (SVG and PNG).
    pub charts: Vec<PathBuf>,
    /// CSV files.
    pub csv: Vec<PathBuf>,
    /// Parquet files.
    pub parquet: Vec<PathBuf>,
    /// Bucket width used.
    pub period: Period,
    /// Whole-selection counts.
    pub totals: Totals,
    /// False when PNG charts were drawn without text (no fonts on the system).
    pub png_text: bool,
}

/// The report's tables for `sel`, without the page, charts or files: what `report` would write
/// as CSV and Parquet (the Python module's `features()` hands them to pyarrow).
pub fn tables(corpus: &Corpus, sel: &Selection, ctx: Ctx<'_>) -> Result<Vec<Table>, ReportError> {
    let data = collect(corpus, sel, ctx)?;
    if ctx.cancelled() {
        return Err(ReportError::Interrupted);
    }
    Ok(tables::build(&data))
}

/// A chart as a front end shows it.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Its id (the file stem `report` writes it under).
    pub id: String,
    /// Its heading.
    pub title: String,
    /// The SVG document (attributes only: no script, no style element).
    pub svg: String,
}

/// The report of `sel` as values, written nowhere: its totals, tables and charts in page
/// order (what `pycorpus serve` shows live).
pub fn live(corpus: &Corpus, sel: &Selection, drawing: Drawing, ctx: Ctx<'_>) -> Result<(Totals, Vec<Table>, Vec<Chart>), ReportError> {
    let data = collect(corpus, sel, ctx)?;
    if ctx.cancelled() {
        return Err(ReportError::Interrupted);
    }
    let charts = figures::build(&data, drawing).iter().map(|f| Chart { id: f.id().to_string(), title: f.title().to_string(), svg: f.svg() }).collect();
    Ok((data.totals.clone(), tables::build(&data), charts))
}

/// Collects, draws and writes a report of `corpus`. The page is written last, so a page
/// that exists belongs to complete tables and charts.
pub fn report(corpus: &Corpus, sel: &Selection, drawing: Drawing, outputs: &Outputs, ctx: Ctx<'_>) -> Result<ReportSummary, ReportError> {
    let data = collect(corpus, sel, ctx)?;
    if ctx.cancelled() {
        return Err(ReportError::Interrupted);
    }
    let tables = tables::build(&data);
    let figures = figures::build(&data, drawing);
    let mut summary = ReportSummary { html: outputs.html.clone(), charts: Vec::new(), csv: Vec::new(), parquet: Vec::new(), period: data.period, totals: data.totals.clone(), png_text: true };
    if let Some(dir) = &outputs.csv {
        summary.csv = tables::write_csv(&tables, dir)?;
    }
    if let Some(dir) = &outputs.parquet {
        summary.parquet = tables::write_parquet(&tables, dir)?;
    }
    if let Some(dir) = &outputs.charts {
        let renderer = png::Renderer::new();
        summary.png_text = renderer.has_fonts;
        for f in &figures {
            let svg = f.svg();
            let path = dir.join(format!("{}.svg", f.id()));
            tables::write_atomic(&path, svg.as_bytes())?;
            summary.charts.push(path);
            let path = dir.join(format!("{}.png", f.id()));
            tables::write_atomic(&path, &renderer.png(&svg, &path)?)?;
            summary.charts.push(path);
        }
    }
    let mut source = format!("Corpus {}", corpus.root().display());
    if sel.exclude_tests_docs {
        source.push_str(", leaving out Python files under test, doc and example folders");
    }
    let html = page::render(&data, &tables, &figures, &source, drawing.min_units);
    tables::write_atomic(&outputs.html, html.as_bytes())?;
    Ok(summary)
}
