//! Browsing: the home page, a project's releases, a release's files, a file, the statistics;
//! each page with its JSON twin under `/api/`. Pages work without JavaScript.

use crate::web::{CSP_SANDBOX, WebError};
use crate::{App, highlight, limits};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use pycorpus_catalog::{FileRow, Filter, Release, ScanStats, row_json};
use pycorpus_core::{Corpus, shard_releases};
use pycorpus_store::Oid;
use std::sync::{Arc, LazyLock};

/// The templates, compiled in: names ending in `.html` escape everything they print.
static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    // `text|cut(n)`: at most n characters, with an ellipsis when cut.
    env.add_filter("cut", |s: String, n: usize| match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    });
    for (name, text) in [
        ("_head.html", include_str!("../templates/_head.html")),
        ("_foot.html", include_str!("../templates/_foot.html")),
        ("_form.html", include_str!("../templates/_form.html")),
        ("error.html", include_str!("../templates/error.html")),
        ("home.html", include_str!("../templates/home.html")),
        ("search_top.html", include_str!("../templates/search_top.html")),
        ("search_bottom.html", include_str!("../templates/search_bottom.html")),
        ("result.html", include_str!("../templates/result.html")),
        ("summary.html", include_str!("../templates/summary.html")),
        ("project.html", include_str!("../templates/project.html")),
        ("release.html", include_str!("../templates/release.html")),
        ("blob.html", include_str!("../templates/blob.html")),
        ("stats.html", include_str!("../templates/stats.html")),
    ] {
        env.add_template(name, text).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
});

/// Parses the templates now (one that does not parse stops the server at start, not at its
/// first page).
pub(crate) fn check_templates() {
    LazyLock::force(&TEMPLATES);
}

/// Renders template `name`.
pub(crate) fn render(name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    TEMPLATES.get_template(name)?.render(ctx)
}

/// Escapes text for HTML (for the rare message built outside a template).
pub(crate) fn escape(s: &str) -> String {
    minijinja::HtmlEscape(s).to_string()
}

fn page(name: &str, ctx: minijinja::Value) -> Result<Response, WebError> {
    Ok(Html(render(name, ctx).map_err(WebError::internal)?).into_response())
}

/// Runs `f` with a corpus on a blocking thread (reads of Parquet and packs block), once one
/// of the page slots is free (503 when none frees up in time).
async fn blocking<T: Send + 'static>(app: &Arc<App>, f: impl FnOnce(&Corpus) -> Result<T, WebError> + Send + 'static) -> Result<T, WebError> {
    let wait = std::time::Duration::from_secs(limits::PAGE_WAIT_SECONDS);
    let permit = match tokio::time::timeout(wait, app.pages.clone().acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => return Err(WebError::busy("too many requests at once")),
    };
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f(&app.corpus()?)
    })
    .await
    .map_err(WebError::internal)?
}

/// A project name as the index normalises it (PEP 503), or a 400 when it holds anything but
/// the characters of a project name (a glob or a path would select something else).
fn project_name(name: &str) -> Result<String, WebError> {
    if name.is_empty() || name.len() > 200 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(WebError::bad(format!("{name:?} is not a project name (letters, digits, '-', '_' and '.')")));
    }
    Ok(pycorpus_archive::normalize_project(name))
}

fn oid(s: &str) -> Result<Oid, WebError> {
    s.parse::<Oid>().map_err(|_| WebError::bad(format!("{s:?} is not a blob id (40 hexadecimal digits)")))
}

/// Every distribution of `project`, oldest first.
fn releases_of(corpus: &Corpus, project: &str) -> Result<Vec<Release>, WebError> {
    let mut out = Vec::new();
    for shard in corpus.shards().map_err(WebError::internal)? {
        out.extend(shard_releases(&shard).map_err(WebError::internal)?.into_iter().filter(|r| r.project_name == project));
    }
    out.sort_by(|a, b| (a.uploaded_on, &a.project_release).cmp(&(b.uploaded_on, &b.project_release)));
    Ok(out)
}

/// The rows `filter` selects, at most `max` (and how many there were).
fn rows(corpus: &Corpus, filter: &Filter, max: usize) -> Result<(Vec<FileRow>, usize), WebError> {
    let (mut out, mut n) = (Vec::new(), 0usize);
    corpus
        .scan_row_refs(filter, &mut ScanStats::default(), &mut |r| {
            n += 1;
            if out.len() < max {
                out.push(r.to_row()?);
            }
            Ok(true)
        })
        .map_err(WebError::internal)?;
    Ok((out, n))
}

fn time(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map(|t| t.strftime("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

/// A release as pages show it.
fn release_view(r: &Release) -> minijinja::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["uploaded"] = time(r.uploaded_on).into();
    minijinja::Value::from_serialize(&v)
}

/// `/`: the search box and what the corpus holds.
pub(crate) async fn home(State(app): State<Arc<App>>) -> Result<Response, WebError> {
    let status = blocking(&app, |c| c.status().map_err(WebError::internal)).await?;
    page("home.html", minijinja::context! { status => minijinja::Value::from_serialize(&status) })
}

#[derive(serde::Serialize)]
struct ProjectData {
    project: String,
    releases: Vec<Release>,
}

async fn project_data(app: &Arc<App>, name: &str) -> Result<ProjectData, WebError> {
    let project = project_name(name)?;
    let p = project.clone();
    let releases = blocking(app, move |c| releases_of(c, &p)).await?;
    if releases.is_empty() {
        return Err(WebError::not_found(format!("no project {project:?} in this corpus")));
    }
    Ok(ProjectData { project, releases })
}

/// `/project/<name>`: its releases, newest first, with their metadata.
pub(crate) async fn project(State(app): State<Arc<App>>, Path(name): Path<String>) -> Result<Response, WebError> {
    let d = project_data(&app, &name).await?;
    let releases: Vec<minijinja::Value> = d.releases.iter().rev().map(release_view).collect();
    page("project.html", minijinja::context! { project => d.project, releases })
}

/// `/api/project/<name>`: `{"project", "releases": [...]}`.
pub(crate) async fn api_project(State(app): State<Arc<App>>, Path(name): Path<String>) -> Result<Response, WebError> {
    Ok(axum::Json(project_data(&app, &name).await.map_err(WebError::api)?).into_response())
}

struct ReleaseData {
    release: Release,
    files: Vec<FileRow>,
    total: usize,
}

async fn release_data(app: &Arc<App>, name: &str, release: String) -> Result<ReleaseData, WebError> {
    let project = project_name(name)?;
    let (p, rel) = (project.clone(), release.clone());
    let found = blocking(app, move |c| {
        let Some(r) = releases_of(c, &p)?.into_iter().find(|r| r.project_release == rel) else { return Ok(None) };
        let mut f = Filter { versions: vec![r.project_version.clone()], ..Filter::default() };
        f.projects.add_glob(&p).map_err(|e| WebError::bad(e.to_string()))?;
        let (rows, _) = rows(c, &f, usize::MAX)?;
        let files: Vec<FileRow> = rows.into_iter().filter(|row| row.project_release == rel).collect();
        Ok(Some((r, files)))
    })
    .await?;
    let Some((release, files)) = found else {
        return Err(WebError::not_found(format!("no release {release:?} of project {project:?} in this corpus")));
    };
    Ok(ReleaseData { release, total: files.len(), files })
}

/// `/project/<name>/<release>`: the release's files, skipped ones with their reason.
pub(crate) async fn release(State(app): State<Arc<App>>, Path((name, release)): Path<(String, String)>) -> Result<Response, WebError> {
    let d = release_data(&app, &name, release).await?;
    let files: Vec<minijinja::Value> = d
        .files
        .iter()
        .map(|f| {
            let inner = f.inner_path();
            let (dir, file) = inner.rsplit_once('/').map_or(("", inner), |(d, f)| (d, f));
            minijinja::context! { dir, file, size => f.size, lines => f.lines, oid => f.hash.to_hex(), skip => f.skip_reason.map(|s| s.as_str()), link => &f.link_target }
        })
        .collect();
    page("release.html", minijinja::context! { r => release_view(&d.release), files, total => d.total })
}

/// `/api/project/<name>/<release>`: `{"release", "files": [rows]}`.
pub(crate) async fn api_release(State(app): State<Arc<App>>, Path((name, release)): Path<(String, String)>) -> Result<Response, WebError> {
    let d = release_data(&app, &name, release).await.map_err(WebError::api)?;
    Ok(axum::Json(serde_json::json!({ "release": d.release, "files": d.files.iter().map(row_json).collect::<Vec<_>>() })).into_response())
}

/// A blob and the files that hold it (the first `HOLDERS_SHOWN`, and their number).
async fn blob_data(app: &Arc<App>, id: &str, with_bytes: bool) -> Result<(Oid, Option<Vec<u8>>, Vec<FileRow>, usize), WebError> {
    let oid = oid(id)?;
    let (bytes, holders, n) = blocking(app, move |c| {
        let bytes = if with_bytes { c.read_blob(&oid).map_err(WebError::internal)? } else { None };
        let f = Filter { hash_in: Some(Arc::new(std::iter::once(oid).collect())), ..Filter::default() };
        let (holders, n) = rows(c, &f, limits::HOLDERS_SHOWN)?;
        Ok((bytes, holders, n))
    })
    .await?;
    if n == 0 && bytes.is_none() {
        return Err(WebError::not_found(format!("no blob {} in this corpus", oid.to_hex())));
    }
    Ok((oid, bytes, holders, n))
}

fn holder_view(f: &FileRow) -> minijinja::Value {
    minijinja::context! { project => &f.project_name, version => &f.project_version, release => &f.project_release, path => f.inner_path(), uploaded => time(f.uploaded_on) }
}

/// `/blob/<oid>`: the file, its lines numbered and anchored (`#L12`), Python highlighted,
/// with the files of every release that hold it.
pub(crate) async fn blob(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Response, WebError> {
    let (oid, bytes, holders, n) = blob_data(&app, &id, true).await?;
    let Some(bytes) = bytes else {
        return Err(WebError::not_found(format!("blob {} is not stored (its files were skipped: see their reason)", oid.to_hex())));
    };
    let size = bytes.len();
    let binary = bytes[..size.min(8192)].contains(&0);
    let shown = &bytes[..size.min(limits::FILE_SHOWN)];
    let text = String::from_utf8_lossy(shown);
    let python = holders.first().is_some_and(|h| highlight::is_python(&h.path));
    let lines: Vec<minijinja::Value> = match (binary, python.then(|| highlight::python_lines(&text)).flatten()) {
        (true, _) => Vec::new(),
        (false, Some(html)) => html.into_iter().map(minijinja::Value::from_safe_string).collect(),
        (false, None) => text.split_inclusive('\n').map(|l| minijinja::Value::from(l.trim_end_matches(['\n', '\r']))).collect(),
    };
    let holders: Vec<minijinja::Value> = holders.iter().map(holder_view).collect();
    page("blob.html", minijinja::context! { oid => oid.to_hex(), size, binary, cut => size > shown.len(), lines, holders, total => n, first => holders.first() })
}

/// `/api/blob/<oid>`: the raw bytes (as text when they are UTF-8, never as a page).
pub(crate) async fn api_blob(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Response, WebError> {
    let oid = oid(&id).map_err(WebError::api)?;
    let bytes = blocking(&app, move |c| c.read_blob(&oid).map_err(WebError::internal)).await.map_err(WebError::api)?;
    let Some(bytes) = bytes else { return Err(WebError::not_found(format!("no stored blob {}", oid.to_hex())).api()) };
    let kind = if std::str::from_utf8(&bytes).is_ok() { "text/plain; charset=utf-8" } else { "application/octet-stream" };
    Ok(([(header::CONTENT_TYPE, kind), (header::CONTENT_SECURITY_POLICY, CSP_SANDBOX)], bytes).into_response())
}

/// `/api/blob/<oid>/files`: `{"files": [rows], "total": n}` (the first `HOLDERS_SHOWN`).
pub(crate) async fn api_blob_files(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Response, WebError> {
    let (_, _, holders, n) = blob_data(&app, &id, false).await.map_err(WebError::api)?;
    Ok(axum::Json(serde_json::json!({ "files": holders.iter().map(row_json).collect::<Vec<_>>(), "total": n })).into_response())
}

/// The statistics of a selection, as the report has them.
pub(crate) struct Stats {
    totals: pycorpus_report::Totals,
    tables: Vec<pycorpus_report::Table>,
    charts: Vec<pycorpus_report::Chart>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsParams {
    project: Option<String>,
    #[allow(dead_code)] // checked by the token guard
    token: Option<String>,
}

/// The statistics of the corpus or of one project, computed once and kept (a few).
async fn stats_of(app: &Arc<App>, project: Option<&str>) -> Result<Arc<Stats>, WebError> {
    let project = project.filter(|p| !p.is_empty()).map(project_name).transpose()?;
    let key = project.clone().unwrap_or_default();
    if let Some(s) = app.stats.lock().map_err(WebError::internal)?.iter().find(|(k, _)| *k == key) {
        return Ok(s.1.clone());
    }
    let permit = app.searches.clone().try_acquire_owned().map_err(|_| WebError::busy("too many searches at once"))?;
    let stats = blocking(app, move |c| {
        let _permit = permit;
        let mut filter = Filter::default();
        if let Some(p) = &project {
            if releases_of(c, p)?.is_empty() {
                return Err(WebError::not_found(format!("no project {p:?} in this corpus")));
            }
            filter.projects.add_glob(p).map_err(|e| WebError::bad(e.to_string()))?;
        }
        let sel = pycorpus_report::Selection { filter, exclude_tests_docs: false, period: None, min_units: pycorpus_report::DEFAULT_MIN_UNITS };
        let drawing = pycorpus_report::Drawing { min_units: pycorpus_report::DEFAULT_MIN_UNITS, top: pycorpus_report::DEFAULT_TOP };
        match pycorpus_report::live(c, &sel, drawing, pycorpus_core::Ctx::quiet()) {
            Ok((totals, tables, charts)) => Ok(Stats { totals, tables, charts }),
            Err(pycorpus_report::ReportError::NoFacts(_)) => Err(WebError::not_found("no language facts in this corpus yet: run `pycorpus analyze`, then reload")),
            Err(e) => Err(WebError::internal(e)),
        }
    })
    .await?;
    let stats = Arc::new(stats);
    let mut cache = app.stats.lock().map_err(WebError::internal)?;
    if cache.len() >= limits::STATS_CACHED {
        cache.remove(0);
    }
    cache.push((key, stats.clone()));
    Ok(stats)
}

fn tables_json(s: &Stats) -> serde_json::Value {
    let tables = s.tables.iter().map(|t| {
        let rows: Vec<Vec<String>> = t.rows.iter().map(|r| r.iter().map(|c| c.text()).collect()).collect();
        serde_json::json!({ "name": t.name, "title": t.title, "columns": t.columns, "rows": rows })
    });
    serde_json::Value::Array(tables.collect())
}

/// `/stats?project=NAME`: the report's charts and tables, live.
pub(crate) async fn stats(State(app): State<Arc<App>>, params: Result<Query<StatsParams>, axum::extract::rejection::QueryRejection>) -> Result<Response, WebError> {
    let Query(params) = params.map_err(|e| WebError::bad(e.body_text()))?;
    let s = stats_of(&app, params.project.as_deref()).await?;
    let project = params.project.as_deref().map(project_name).transpose()?;
    let charts: Vec<minijinja::Value> = s.charts.iter().map(|c| minijinja::context! { id => &c.id, title => &c.title }).collect();
    page("stats.html", minijinja::context! { project, totals => minijinja::Value::from_serialize(&s.totals), charts, tables => minijinja::Value::from_serialize(tables_json(&s)) })
}

/// `/api/stats?project=NAME`: `{"totals", "tables": [{"name", "title", "columns", "rows"}]}`.
pub(crate) async fn api_stats(State(app): State<Arc<App>>, params: Result<Query<StatsParams>, axum::extract::rejection::QueryRejection>) -> Result<Response, WebError> {
    let Query(params) = params.map_err(|e| WebError::bad(e.body_text()).api())?;
    let s = stats_of(&app, params.project.as_deref()).await.map_err(WebError::api)?;
    Ok(axum::Json(serde_json::json!({ "totals": s.totals, "tables": tables_json(&s) })).into_response())
}

/// `/stats/chart/<id>.svg?project=NAME`: one chart, as an image (sandboxed: it runs nothing).
pub(crate) async fn chart(State(app): State<Arc<App>>, Path(id): Path<String>, params: Result<Query<StatsParams>, axum::extract::rejection::QueryRejection>) -> Result<Response, WebError> {
    let Query(params) = params.map_err(|e| WebError::bad(e.body_text()))?;
    let id = id.strip_suffix(".svg").ok_or_else(|| WebError::not_found("charts are <id>.svg"))?;
    let s = stats_of(&app, params.project.as_deref()).await?;
    let c = s.charts.iter().find(|c| c.id == id).ok_or_else(|| WebError::not_found(format!("no chart {id:?}")))?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CONTENT_SECURITY_POLICY, CSP_SANDBOX), (header::CACHE_CONTROL, "max-age=60")], c.svg.clone()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_normalised_or_refused() {
        assert_eq!(project_name("Zope.Interface").expect("valid"), "zope-interface");
        assert_eq!(project_name("a__b").expect("valid"), "a-b");
        for bad in ["", "../etc", "a b", "a*", "<script>"] {
            assert_eq!(project_name(bad).err().map(|e| e.status.as_u16()), Some(400), "{bad}");
        }
        assert_eq!(oid("zz").err().map(|e| e.status.as_u16()), Some(400));
    }

    #[test]
    fn templates_escape_corpus_text() {
        let html = render("error.html", minijinja::context! { title => "x", message => "<script>alert(1)</script>\"><img onerror=x>" }).expect("renders");
        assert!(!html.contains("<script>alert") && !html.contains("<img onerror"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
