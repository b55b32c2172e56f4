//! The self-contained HTML page: inline SVG charts and the tables, one file, no script.

use crate::chart::esc;
use crate::collect::{Data, VIEWS};
use crate::features::GROUPS;
use crate::figures::{Figure, slug};
use crate::tables::Table;
use std::fmt::Write;

/// Tables longer than this are left to the CSV/Parquet files, not put in the page.
const MAX_PAGE_ROWS: usize = 5_000;

const STYLE: &str = "body{font-family:system-ui,'DejaVu Sans',sans-serif;margin:2rem auto;max-width:1560px;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1rem}
svg{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}td,th{border:1px solid #ddd;padding:.2rem .5rem}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f5f5}
.note{color:#555;max-width:70rem}details{margin:.5rem 0}";

fn table_html(out: &mut String, t: &Table, limit: usize) {
    let _ = write!(out, r#"<table data-table="{}"><thead><tr>"#, t.name);
    for c in &t.columns {
        let _ = write!(out, "<th>{}</th>", esc(c));
    }
    out.push_str("</tr></thead><tbody>");
    for row in t.rows.iter().take(limit) {
        out.push_str("<tr>");
        for cell in row {
            let class = if matches!(cell, crate::tables::Cell::Text(_)) { "" } else { " class=\"n\"" };
            let _ = write!(out, "<td{class}>{}</td>", esc(&cell.text()));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn find<'a>(tables: &'a [Table], name: &str) -> Option<&'a Table> {
    tables.iter().find(|t| t.name == name)
}

/// The page. `source` describes the corpus and selection.
pub fn render(data: &Data, tables: &[Table], figures: &[Figure], source: &str, min_units: u64) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>pycorpus report</title><style>{STYLE}</style></head><body>"
    );
    out.push_str("<h1>Python language features and packaging: adoption over time</h1>");
    let _ = write!(
        out,
        "<p class=\"note\">{}. Buckets are {}s of upload (UTC). Three views of the same files: the share of <b>releases</b> (a project's version, all its distribution files) whose Python files use a feature at least once; the share of <b>projects</b> uploading in the {} that use it in any file uploaded then (py-code.org's definition); and the share of <b>unique files</b>, each counted once in the {} it was first seen. Features count only in files that parse as Python 3. Buckets with fewer than {} units are left out of the lines; every bucket is in the tables.</p>",
        esc(source),
        data.period.name(),
        data.period.name(),
        data.period.name(),
        min_units
    );
    let fig = |id: &str| figures.iter().find(|f| f.id() == id).map(Figure::svg).unwrap_or_default();
    out.push_str("<h2 id=\"summary\">Summary</h2>");
    for name in ["summary", "features_overall"] {
        if let Some(t) = find(tables, name) {
            let _ = write!(out, "<p class=\"note\">{}</p>", esc(t.title));
            table_html(&mut out, t, usize::MAX);
        }
    }
    for group in GROUPS {
        let _ = write!(out, "<h2 id=\"{}\">{}</h2><div class=\"grid\">", slug(group), esc(group));
        for (view, _) in VIEWS {
            out.push_str(&fig(&format!("features-{}-{}", slug(group), view.replace('_', "-"))));
        }
        out.push_str("</div>");
    }
    out.push_str("<h2 id=\"packaging\">Packaging</h2><p class=\"note\">From the paths of each release's files alone: build files at the top of a source distribution; the rest anywhere in any of its distribution files. Build backends from the <code>[build-system]</code> table of the top-level pyproject.toml (\"(none named)\": pip falls back to setuptools).</p><div class=\"grid\">");
    for id in ["packaging-build-files", "packaging-contents", "build-backends"] {
        out.push_str(&fig(id));
    }
    out.push_str("</div>");
    out.push_str("<h2 id=\"packaging-metadata\">Packaging metadata</h2><p class=\"note\">From each distribution's own metadata files, as the index keeps them (releases.parquet's packaging columns and requirements.parquet): a release (a project's version) counts once, whatever its distribution files; a requirement has an environment marker when its marker says more than which extra it belongs to. Most required: distinct projects whose releases require each one for installing (run requirements, not build nor extras).</p>");
    if !data.metadata.shards_without_tables.is_empty() {
        let list: Vec<String> = data.metadata.shards_without_tables.iter().map(|n| n.to_string()).collect();
        let _ = write!(
            out,
            "<p class=\"note\" data-missing=\"metadata\">Shard(s) {} were sealed before the dependency tables and are not counted here: <code>pycorpus reindex-metadata</code> adds them.</p>",
            list.join(", ")
        );
    }
    out.push_str("<div class=\"grid\">");
    for id in ["packaging-metadata", "metadata-versions", "most-required"] {
        out.push_str(&fig(id));
    }
    out.push_str("</div>");
    for name in ["packaging_metadata", "metadata_versions", "most_required"] {
        if let Some(t) = find(tables, name) {
            let _ = write!(out, "<details><summary>{} ({} rows, {}.csv)</summary>", esc(t.title), t.rows.len(), t.name);
            table_html(&mut out, t, MAX_PAGE_ROWS);
            out.push_str("</details>");
        }
    }
    out.push_str("<h2 id=\"min-versions\">Minimum Python version</h2><p class=\"note\">The oldest Python 3 whose grammar accepts the file (from the parser's unsupported-syntax errors); a release needs the newest of its files. Test and documentation examples of linters can pull this up: see <code>--exclude-tests-docs</code>.</p>");
    out.push_str(&fig("min-versions"));
    if let Some(t) = find(tables, "min_versions") {
        table_html(&mut out, t, usize::MAX);
    }
    out.push_str("<h2 id=\"imports\">Imported modules</h2><p class=\"note\">Top-level names of absolute imports. A release's imports of its own modules are not counted as third-party use.</p><div class=\"grid\">");
    out.push_str(&fig("imports-stdlib"));
    out.push_str(&fig("imports-third-party"));
    out.push_str("</div>");
    if let Some(t) = find(tables, "imports") {
        let _ = write!(out, "<details><summary>The {} most imported modules (all {} in imports.csv)</summary>", t.rows.len().min(100), t.rows.len());
        table_html(&mut out, t, 100);
        out.push_str("</details>");
    }
    out.push_str("<h2 id=\"stdlib\">Standard library over time</h2><p class=\"note\">The share of releases (with Python files) importing each standard library module, per period; the modules whose share moved most between the first and the last period with enough releases to be drawn.</p>");
    out.push_str(&fig("stdlib-movers"));
    for name in ["stdlib_movers", "stdlib_over_time"] {
        let Some(t) = find(tables, name) else { continue };
        let _ = write!(out, "<details><summary>{} ({} rows, {}.csv)</summary>", esc(t.title), t.rows.len(), t.name);
        table_html(&mut out, t, MAX_PAGE_ROWS);
        out.push_str("</details>");
    }
    out.push_str("<h2 id=\"status\">Parse status</h2>");
    if let Some(t) = find(tables, "parse_status") {
        table_html(&mut out, t, usize::MAX);
    }
    out.push_str("<h2 id=\"tables\">Tables</h2>");
    for name in ["adoption", "packaging", "build_backends"] {
        let Some(t) = find(tables, name) else { continue };
        if t.rows.len() <= MAX_PAGE_ROWS {
            let _ = write!(out, "<details><summary>{} ({} rows, {}.csv)</summary>", esc(t.title), t.rows.len(), t.name);
            table_html(&mut out, t, usize::MAX);
            out.push_str("</details>");
        } else {
            let _ = write!(out, "<p class=\"note\">{}: {} rows, in {}.csv and {}.parquet (--csv, --parquet).</p>", esc(t.title), t.rows.len(), t.name, t.name);
        }
    }
    out.push_str("<p class=\"note\">Made by <code>pycorpus report</code>.</p></body></html>\n");
    out
}
