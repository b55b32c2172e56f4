//! The report's charts, from the same [`Data`] as its tables (and with the same rounding).

use crate::chart::{BarChart, LineChart, Point, Series};
use crate::collect::{Data, PACKAGING, Tally, VIEWS};
use crate::features::{FEATURES, GROUPS};
use crate::tables::{pct, version_label};
use std::collections::BTreeMap;

/// A chart of either kind.
#[derive(Debug, Clone)]
pub enum Figure {
    /// Lines over time.
    Line(LineChart),
    /// Bars.
    Bar(BarChart),
}

impl Figure {
    /// File stem and element id.
    pub fn id(&self) -> &str {
        match self {
            Figure::Line(c) => &c.id,
            Figure::Bar(c) => &c.id,
        }
    }

    /// Heading.
    pub fn title(&self) -> &str {
        match self {
            Figure::Line(c) => &c.title,
            Figure::Bar(c) => &c.title,
        }
    }

    /// The SVG text.
    pub fn svg(&self) -> String {
        match self {
            Figure::Line(c) => crate::chart::line_svg(c),
            Figure::Bar(c) => crate::chart::bar_svg(c),
        }
    }
}

/// `Typing` -> `typing`, `Everyday code and Python 2` -> `everyday-code-and-python-2`.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Options for drawing.
#[derive(Debug, Clone, Copy)]
pub struct Drawing {
    /// Buckets with fewer units are left out of the lines (they stay in the tables): a share
    /// of three releases jumps between 0 and 100 %.
    pub min_units: u64,
    /// Bars in the import charts.
    pub top: usize,
}

fn buckets(data: &Data) -> Vec<(i32, String)> {
    match data.span {
        Some((a, b)) => (a..=b).map(|p| (p, data.period.label(p))).collect(),
        None => Vec::new(),
    }
}

/// Lines for items `which` (indices into the tally's `with`) of per-bucket tallies.
fn lines(tallies: &BTreeMap<i32, Tally>, which: &[(usize, String, String)], min_units: u64) -> Vec<Series> {
    which
        .iter()
        .map(|(i, key, name)| Series {
            key: key.clone(),
            name: name.clone(),
            points: tallies.iter().filter(|(_, t)| t.units >= min_units && t.units > 0).map(|(&p, t)| Point { period: p, value: pct(t.with[*i], t.units), with: t.with[*i], units: t.units }).collect(),
        })
        .collect()
}

/// Every chart of the report, in page order.
pub fn build(data: &Data, d: Drawing) -> Vec<Figure> {
    let period = data.period.name();
    let axis = buckets(data);
    let mut out = Vec::new();
    for group in GROUPS {
        let which: Vec<(usize, String, String)> = FEATURES.iter().enumerate().filter(|(_, f)| f.group == group).map(|(i, f)| (i, f.key.to_string(), f.label.to_string())).collect();
        for ((view, unit), tallies) in VIEWS.iter().zip(&data.views) {
            out.push(Figure::Line(LineChart {
                id: format!("features-{}-{}", slug(group), view.replace('_', "-")),
                title: format!("{group}: share of {unit} using each, per {period}"),
                unit: unit.to_string(),
                view: view.to_string(),
                buckets: axis.clone(),
                series: lines(tallies, &which, d.min_units),
            }));
        }
    }
    let pack =
        |keys: &[&str]| -> Vec<(usize, String, String)> { PACKAGING.iter().enumerate().filter(|(_, (k, _, _))| keys.contains(k)).map(|(i, (k, l, _))| (i, k.to_string(), l.to_string())).collect() };
    for (id, title, keys) in [
        ("packaging-build-files", "Build files: share of releases with a source distribution", &["pyproject", "setup_py", "setup_cfg", "pyproject_only"][..]),
        ("packaging-contents", "Contents: share of releases with a source distribution", &["py_typed", "pyi", "requirements_txt", "rust", "c", "cpp", "cython"][..]),
    ] {
        out.push(Figure::Line(LineChart {
            id: id.to_string(),
            title: format!("{title}, per {period}"),
            unit: "releases with a source distribution".into(),
            view: "packaging".into(),
            buckets: axis.clone(),
            series: lines(&data.packaging, &pack(keys), d.min_units),
        }));
    }
    // The most used build backends, as shares of releases whose pyproject.toml is at the top.
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, by) in data.backends.values() {
        for (b, n) in by {
            *totals.entry(b.as_str()).or_default() += n;
        }
    }
    let mut top: Vec<(&str, u64)> = totals.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let series = top
        .iter()
        .take(8)
        .map(|(b, _)| Series {
            key: b.to_string(),
            name: b.to_string(),
            points: data
                .backends
                .iter()
                .filter(|(_, (units, _))| *units >= d.min_units && *units > 0)
                .map(|(&p, (units, by))| {
                    let n = by.get(*b).copied().unwrap_or(0);
                    Point { period: p, value: pct(n, *units), with: n, units: *units }
                })
                .collect(),
        })
        .collect();
    out.push(Figure::Line(LineChart {
        id: "build-backends".into(),
        title: format!("Build backends: share of releases with a pyproject.toml, per {period}"),
        unit: "releases with a pyproject.toml".into(),
        view: "build_backends".into(),
        buckets: axis.clone(),
        series,
    }));
    // Packaging metadata: PEP 621 of releases with a pyproject.toml, the rest of releases with
    // core metadata.
    let md = &data.metadata;
    let facts: Vec<(usize, String, String)> = crate::METADATA_FACTS.iter().enumerate().map(|(i, (k, l))| (i, k.to_string(), l.to_string())).collect();
    let mut series = lines(&md.pep621, &[(0, "pep621".into(), "[project] table (PEP 621), of releases with a pyproject.toml".into())], d.min_units);
    series.extend(lines(&md.facts, &facts, d.min_units));
    out.push(Figure::Line(LineChart {
        id: "packaging-metadata".into(),
        title: format!("Packaging metadata: share of releases with core metadata stating each, per {period}"),
        unit: "releases with core metadata".into(),
        view: "packaging_metadata".into(),
        buckets: axis.clone(),
        series,
    }));
    let mut names: BTreeMap<&str, u64> = BTreeMap::new();
    for by in md.versions.values() {
        for (v, n) in by {
            *names.entry(v.as_str()).or_default() += n;
        }
    }
    out.push(Figure::Line(LineChart {
        id: "metadata-versions".into(),
        title: format!("Core metadata versions: share of releases by their highest Metadata-Version, per {period}"),
        unit: "releases with core metadata".into(),
        view: "metadata_versions".into(),
        buckets: axis.clone(),
        series: names
            .keys()
            .map(|v| Series {
                key: v.to_string(),
                name: v.to_string(),
                points: md
                    .versions
                    .iter()
                    .filter_map(|(&p, by)| {
                        let units: u64 = by.values().sum();
                        let n = by.get(*v).copied().unwrap_or(0);
                        (units >= d.min_units && units > 0).then(|| Point { period: p, value: pct(n, units), with: n, units })
                    })
                    .collect(),
            })
            .collect(),
    }));
    out.push(Figure::Bar(BarChart {
        id: "most-required".into(),
        title: "Most required projects: share of projects requiring each for installing".into(),
        bars: md.most_required.iter().take(d.top).map(|r| (r.project.clone(), pct(r.projects, data.totals.projects), r.projects)).collect(),
    }));
    let movers = crate::tables::stdlib_movers(data, data.min_units);
    out.push(Figure::Line(LineChart {
        id: "stdlib-movers".into(),
        title: format!("Standard library modules whose share moved most: share of releases importing each, per {period}"),
        unit: "releases with Python files".into(),
        view: "stdlib_over_time".into(),
        buckets: axis.clone(),
        series: movers
            .iter()
            .take(8)
            .map(|m| Series {
                key: m.module.clone(),
                name: m.module.clone(),
                points: data
                    .stdlib
                    .iter()
                    .filter(|(_, (units, _))| *units >= d.min_units && *units > 0)
                    .map(|(&p, (units, by))| {
                        let n = by.get(&m.module).copied().unwrap_or(0);
                        Point { period: p, value: pct(n, *units), with: n, units: *units }
                    })
                    .collect(),
            })
            .collect(),
    }));
    let releases: u64 = data.min_versions.values().map(|v| v.1).sum();
    out.push(Figure::Bar(BarChart {
        id: "min-versions".into(),
        title: "Oldest Python 3 that accepts the syntax: share of releases".into(),
        bars: data.min_versions.iter().map(|(&m, &(_, r))| (version_label(m), pct(r, releases), r)).collect(),
    }));
    for (id, title, stdlib) in
        [("imports-stdlib", "Standard library modules: share of releases importing each", true), ("imports-third-party", "Third-party modules: share of releases importing each", false)]
    {
        out.push(Figure::Bar(BarChart {
            id: id.into(),
            title: title.into(),
            bars: data.imports.iter().filter(|m| m.stdlib == stdlib).take(d.top).map(|m| (m.module.clone(), pct(m.releases, data.totals.releases_with_python), m.releases)).collect(),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Everyday code and Python 2"), "everyday-code-and-python-2");
        assert_eq!(slug("Newer syntax"), "newer-syntax");
    }
}
