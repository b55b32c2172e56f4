//! The options of a report as front ends give them: the one definition of each option, its
//! default and its check. The command line flattens [`ReportSpec`] into its flags (the `clap`
//! feature); the Python module deserialises its keyword arguments into it.

use crate::{Drawing, Outputs, Period, ReportError, Selection};
use pycorpus_catalog::Filter;
use std::path::{Path, PathBuf};

/// Buckets with fewer units than this are left out of the lines.
pub const DEFAULT_MIN_UNITS: u64 = 5;
/// Modules in each import chart.
pub const DEFAULT_TOP: usize = 25;

/// What to count, how to draw it and where to write it.
#[derive(Debug, Clone, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
pub struct ReportSpec {
    /// The HTML page [default: <corpus>/report/report.html].
    #[cfg_attr(feature = "clap", arg(short = 'o', long, value_name = "FILE"))]
    pub output: Option<PathBuf>,
    /// Folder for the tables as CSV.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
    pub csv: Option<PathBuf>,
    /// Folder for the tables as Parquet.
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
    pub parquet: Option<PathBuf>,
    /// Folder for the charts as SVG and PNG [default: charts/ beside the page].
    #[cfg_attr(feature = "clap", arg(long, value_name = "DIR"))]
    pub charts: Option<PathBuf>,
    /// Write no chart files (the page still holds every chart).
    #[cfg_attr(feature = "clap", arg(long, conflicts_with = "charts"))]
    pub no_charts: bool,
    /// Bucket width [default: the finest with about 30 releases per bucket].
    #[cfg_attr(feature = "clap", arg(long, value_enum))]
    pub period: Option<Period>,
    /// Buckets with fewer units (releases, projects, files) are left out of the lines.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_MIN_UNITS, value_name = "N"))]
    pub min_units: u64,
    /// Modules in each import chart.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = DEFAULT_TOP, value_name = "N"))]
    pub top: usize,
    /// Leave out Python files under test(s)/, testing/, doc(s)/ and example(s)/ folders.
    #[cfg_attr(feature = "clap", arg(long))]
    pub exclude_tests_docs: bool,
}

impl Default for ReportSpec {
    fn default() -> ReportSpec {
        ReportSpec { output: None, csv: None, parquet: None, charts: None, no_charts: false, period: None, min_units: DEFAULT_MIN_UNITS, top: DEFAULT_TOP, exclude_tests_docs: false }
    }
}

impl ReportSpec {
    /// What to count: the rows `filter` selects, with these options.
    pub fn selection(&self, filter: Filter) -> Selection {
        Selection { filter, exclude_tests_docs: self.exclude_tests_docs, period: self.period, min_units: self.min_units }
    }

    /// How to draw.
    pub fn drawing(&self) -> Drawing {
        Drawing { min_units: self.min_units, top: self.top }
    }

    /// Where to write, for a corpus at `root`; `name` spells an option as the front end does.
    pub fn outputs(&self, root: &Path, name: &dyn Fn(&str) -> String) -> Result<Outputs, ReportError> {
        if self.no_charts && self.charts.is_some() {
            return Err(ReportError::Option(format!("{} and {} exclude each other", name("no_charts"), name("charts"))));
        }
        let html = self.output.clone().unwrap_or_else(|| root.join("report").join("report.html"));
        let charts = (!self.no_charts).then(|| self.charts.clone().unwrap_or_else(|| html.parent().unwrap_or(Path::new(".")).join("charts")));
        Ok(Outputs { html, charts, csv: self.csv.clone(), parquet: self.parquet.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_resolve_beside_the_page() {
        let o = ReportSpec::default().outputs(Path::new("/c"), &|f| f.to_string()).expect("valid");
        assert_eq!(o.html, Path::new("/c/report/report.html"));
        assert_eq!(o.charts.as_deref(), Some(Path::new("/c/report/charts")));
        let spec: ReportSpec = serde_json::from_str(r#"{"no_charts": true, "charts": "x", "period": "year"}"#).expect("parses");
        assert_eq!(spec.period, Some(Period::Year));
        let e = spec.outputs(Path::new("/c"), &|f| format!("{f}=")).unwrap_err();
        assert_eq!(e.to_string(), "no_charts= and charts= exclude each other");
        assert!(serde_json::from_str::<ReportSpec>(r#"{"period": "week"}"#).is_err());
    }
}
