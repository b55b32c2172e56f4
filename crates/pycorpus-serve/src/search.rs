//! Searches: `grep_matches` on a blocking thread, its blobs sent to the answer as they are
//! found. Three answers: the search page (HTML, streamed: it works without JavaScript), the
//! page's script's fragments (JSON lines, each an escaped HTML fragment) and the API's JSON.
//!
//! A search holds one of the server's search slots (none free: 503), stops at its result
//! limit, at a cap on the bytes of text it answers with, at its time budget, or as soon as its
//! client goes away (the channel to the answer closes), and says which.

use crate::query::{Search, SearchParams};
use crate::web::WebError;
use crate::{App, pages};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pycorpus_explore::{BlobMatches, MatchRanges};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

/// Bytes of matched text one search answers with at most (a 5 MiB line is possible).
const TEXT_BYTES: usize = 8 << 20;
/// Bytes of a line shown in results (around its first match) before it is cut.
const LINE_SHOWN: usize = 400;
/// Lines of context pages show around a match.
pub(crate) const PAGE_CONTEXT: usize = 2;

/// What a running search sends.
pub(crate) enum Event {
    /// A blob with selected lines, rendered (on the search's thread) for the answer.
    Blob(String),
    /// The end.
    Done(Summary),
}

/// How a search ended.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct Summary {
    /// Blobs with a match sent.
    pub blobs: u64,
    /// Matching lines sent.
    pub lines: u64,
    /// It stopped before the end (`why` says why).
    pub truncated: bool,
    /// `limit`, `size`, `time` or nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<&'static str>,
    /// Milliseconds it took.
    pub millis: u64,
    /// A failure of the corpus (a damaged shard) after some results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

const STOP_NONE: u8 = 0;
const STOP_LIMIT: u8 = 1;
const STOP_SIZE: u8 = 2;
const STOP_TIME: u8 = 3;
const STOP_GONE: u8 = 4;

/// Starts `search`: its events come on the receiver, each blob as `render` makes it, the last
/// one `Done`.
pub(crate) fn start(app: &Arc<App>, mut search: Search, render: impl Fn(&BlobMatches) -> String + Send + 'static) -> Result<mpsc::Receiver<Event>, WebError> {
    let permit = app.searches.clone().try_acquire_owned().map_err(|_| WebError::busy("too many searches at once"))?;
    search.opts.frame_cache = app.frames.clone();
    let (tx, rx) = mpsc::channel(16);
    let cancel = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicU8::new(STOP_NONE));
    let timer = {
        let (cancel, stop, budget) = (cancel.clone(), stop.clone(), app.search_budget);
        tokio::spawn(async move {
            tokio::time::sleep(budget).await;
            let _ = stop.compare_exchange(STOP_NONE, STOP_TIME, Ordering::SeqCst, Ordering::SeqCst);
            cancel.store(true, Ordering::SeqCst);
        })
    };
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let mut sum = Summary::default();
        let mut text = 0usize;
        let stop_with = |why: u8| {
            let _ = stop.compare_exchange(STOP_NONE, why, Ordering::SeqCst, Ordering::SeqCst);
            cancel.store(true, Ordering::SeqCst);
        };
        let result = app.corpus().map_err(|e| e.message).and_then(|corpus| {
            let ctx = pycorpus_core::Ctx::new(&pycorpus_progress::NoReporter, &cancel);
            pycorpus_explore::grep_matches(&corpus, &search.filter, &search.opts, ctx, &mut |m: BlobMatches| {
                if cancel.load(Ordering::SeqCst) {
                    return Ok(());
                }
                match send(&tx, Event::Blob(render(&m)), &|| cancel.load(Ordering::SeqCst)) {
                    Sent::Yes => {}
                    Sent::Gone => {
                        stop_with(STOP_GONE);
                        return Ok(());
                    }
                    Sent::Stopped => return Ok(()),
                }
                sum.blobs += 1;
                sum.lines += m.lines.iter().filter(|l| l.selected).count() as u64;
                text += m.lines.iter().map(|l| l.text.len()).sum::<usize>();
                if sum.lines >= search.limit as u64 {
                    stop_with(STOP_LIMIT);
                } else if text >= TEXT_BYTES {
                    stop_with(STOP_SIZE);
                }
                Ok(())
            })
            .map_err(|e| e.to_string())
        });
        timer.abort();
        sum.error = result.err();
        sum.why = match stop.load(Ordering::SeqCst) {
            STOP_LIMIT => Some("limit"),
            STOP_SIZE => Some("size"),
            STOP_TIME => Some("time"),
            _ => None,
        };
        sum.truncated = sum.why.is_some();
        sum.millis = started.elapsed().as_millis() as u64;
        // the slot is free once the search is over; the end goes to a client that reads
        // again within a while
        drop(permit);
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        send(&tx, Event::Done(sum), &|| std::time::Instant::now() > until);
    });
    Ok(rx)
}

/// How [`send`] went.
enum Sent {
    Yes,
    /// The client went away.
    Gone,
    /// `give_up` said so while the client read nothing.
    Stopped,
}

/// Sends `event`, waiting while the client reads nothing more (the channel is full), until
/// `give_up`: a search's time budget, so that a stalled client holds its search slot no longer
/// than a search may run.
fn send(tx: &mpsc::Sender<Event>, mut event: Event, give_up: &dyn Fn() -> bool) -> Sent {
    loop {
        match tx.try_send(event) {
            Ok(()) => return Sent::Yes,
            Err(mpsc::error::TrySendError::Closed(_)) => return Sent::Gone,
            Err(mpsc::error::TrySendError::Full(e)) => {
                if give_up() {
                    return Sent::Stopped;
                }
                event = e;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}

/// `/api/search`: `{"matches": [grep --json records], "truncated": bool}` and how it went.
pub(crate) async fn api(State(app): State<Arc<App>>, params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>) -> Result<Response, WebError> {
    let Query(params) = params.map_err(|e| WebError::bad(e.body_text()).api())?;
    let search = params.build(0).map_err(WebError::api)?;
    // each blob's records, as `grep --json` writes them, made array elements
    let mut rx = start(&app, search, |m| {
        let mut lines = Vec::new();
        let _ = pycorpus_explore::write_records(m, &mut lines);
        String::from_utf8_lossy(lines.strip_suffix(b"\n").unwrap_or(&lines)).replace('\n', ",")
    })
    .map_err(WebError::api)?;
    let mut body = String::from("{\"matches\":[");
    let mut first = true;
    while let Some(event) = rx.recv().await {
        match event {
            Event::Blob(records) => {
                if !std::mem::take(&mut first) {
                    body.push(',');
                }
                body.push_str(&records);
            }
            Event::Done(sum) => {
                if let Some(e) = &sum.error {
                    return Err(WebError::internal(e).api());
                }
                body.push_str(&format!("],\"truncated\":{},\"summary\":{}}}", sum.truncated, serde_json::to_string(&sum).unwrap_or_default()));
                return Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response());
            }
        }
    }
    Err(WebError::internal("the search stopped without an answer").api())
}

/// A line of a result as the page shows it: its parts, matched or not.
#[derive(serde::Serialize)]
struct ShownLine {
    number: u64,
    selected: bool,
    /// A line was left out before this one.
    gap: bool,
    parts: Vec<(String, bool)>,
}

/// The parts of `line` (its ending dropped) with the matches marked, cut around the first
/// match when it is long.
fn parts(line: &[u8], ranges: &MatchRanges, selected: bool) -> Vec<(String, bool)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let hits = if selected { ranges.of(line) } else { Vec::new() };
    let (from, to) = match line.len() > LINE_SHOWN {
        true => {
            let from = hits.first().map_or(0, |r| r.start.saturating_sub(LINE_SHOWN / 4));
            (from, (from + LINE_SHOWN).min(line.len()))
        }
        false => (0, line.len()),
    };
    let mut out = Vec::new();
    if from > 0 {
        out.push(("…".to_string(), false));
    }
    let mut at = from;
    for r in hits.iter().filter(|r| r.end > from && r.start < to) {
        let (s, e) = (r.start.max(at), r.end.min(to));
        if s > at {
            out.push((String::from_utf8_lossy(&line[at..s]).into_owned(), false));
        }
        out.push((String::from_utf8_lossy(&line[s..e]).into_owned(), true));
        at = e;
    }
    if at < to {
        out.push((String::from_utf8_lossy(&line[at..to]).into_owned(), false));
    }
    if to < line.len() {
        out.push(("…".to_string(), false));
    }
    out
}

/// The HTML of one blob's results.
fn blob_html(m: &BlobMatches, ranges: &MatchRanges, qs: &str) -> String {
    let row = &m.holders.first;
    let mut last = None;
    let lines: Vec<ShownLine> = m
        .lines
        .iter()
        .map(|l| {
            let gap = last.is_some_and(|n: u64| l.number > n + 1);
            last = Some(l.number);
            ShownLine { number: l.number, selected: l.selected, gap, parts: parts(&l.text, ranges, l.selected) }
        })
        .collect();
    let first = m.lines.iter().find(|l| l.selected).map_or(1, |l| l.number);
    pages::render(
        "result.html",
        minijinja::context! {
            oid => m.oid.to_hex(), project => &row.project_name, version => &row.project_version, release => &row.project_release,
            path => row.inner_path(), others => m.holders.count.saturating_sub(1), lines, first, qs,
        },
    )
    .unwrap_or_else(|e| format!("<p class=\"error\">{}</p>", pages::escape(&e.to_string())))
}

fn summary_html(sum: &Summary) -> String {
    pages::render("summary.html", minijinja::context! { sum }).unwrap_or_default()
}

/// Builds and starts a search for a page, each blob rendered as HTML and passed through
/// `wrap`; `Err` is the page's error (the whole answer).
fn begin(app: &Arc<App>, params: &SearchParams, wrap: fn(String) -> String) -> Result<mpsc::Receiver<Event>, WebError> {
    let search = params.build(PAGE_CONTEXT)?;
    let ranges = search.opts.match_ranges().map_err(|e| WebError::bad(e.to_string()))?;
    let qs = params.query_string();
    start(app, search, move |m| wrap(blob_html(m, &ranges, &qs)))
}

/// `/search`: the page, its results streamed into it as they are found.
pub(crate) async fn page(State(app): State<Arc<App>>, params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>) -> Result<Response, WebError> {
    let Query(params) = params.map_err(|e| WebError::bad(e.body_text()))?;
    let pattern = params.pattern();
    let (head, error) = match pattern.is_empty() {
        true => (None, None),
        false => match begin(&app, &params, |html| html) {
            Ok(started) => (Some(started), None),
            Err(e) if e.status.is_client_error() => (None, Some(e.message)),
            Err(e) => return Err(e),
        },
    };
    let top =
        pages::render("search_top.html", minijinja::context! { p => &params, pattern, error, fixed => params.flag("fixed"), ignore_case => params.flag("ignore_case"), word => params.flag("word") })
            .map_err(WebError::internal)?;
    let bottom = pages::render("search_bottom.html", minijinja::context! {}).map_err(WebError::internal)?;
    let status = if error.is_some() { axum::http::StatusCode::BAD_REQUEST } else { axum::http::StatusCode::OK };
    let Some(rx) = head else {
        return Ok((status, axum::response::Html(format!("{top}{bottom}"))).into_response());
    };
    let results = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |event| match event {
        Event::Blob(html) => html,
        Event::Done(sum) => summary_html(&sum),
    });
    let body = tokio_stream::once(top).chain(results).chain(tokio_stream::once(bottom)).map(Ok::<_, std::convert::Infallible>);
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], Body::from_stream(body)).into_response())
}

/// `/search/results`: the page's script's stream, one JSON object a line: `{"html": ...}` per
/// blob, then `{"html": ..., "done": summary}`.
pub(crate) async fn fragments(State(app): State<Arc<App>>, params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>) -> Result<Response, WebError> {
    let Query(params) = params.map_err(|e| WebError::bad(e.body_text()).api())?;
    let rx = begin(&app, &params, |html| format!("{}\n", serde_json::json!({ "html": html }))).map_err(WebError::api)?;
    let body = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |event| {
        Ok::<_, std::convert::Infallible>(match event {
            Event::Blob(line) => line,
            Event::Done(sum) => format!("{}\n", serde_json::json!({ "html": summary_html(&sum), "done": sum })),
        })
    });
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], Body::from_stream(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(p: &str) -> MatchRanges {
        pycorpus_explore::GrepSpec::default().build(p.into(), pycorpus_explore::OutputMode::Lines, false, false).expect("builds").match_ranges().expect("compiles")
    }

    #[test]
    fn lines_are_cut_into_marked_parts() {
        let r = ranges("ab");
        assert_eq!(parts(b"xabyab\n", &r, true), vec![("x".into(), false), ("ab".into(), true), ("y".into(), false), ("ab".into(), true)]);
        assert_eq!(parts(b"xab\r\n", &r, false), vec![("xab".into(), false)]);
        // a long line is shown around its first match, cut on both sides
        let long = format!("{}ab{}", "-".repeat(5000), "+".repeat(5000));
        let p = parts(long.as_bytes(), &r, true);
        assert_eq!(p.first().map(|x| x.0.as_str()), Some("…"));
        assert_eq!(p.last().map(|x| x.0.as_str()), Some("…"));
        assert!(p.iter().any(|x| x == &("ab".to_string(), true)));
        assert!(p.iter().map(|x| x.0.len()).sum::<usize>() <= LINE_SHOWN + 8);
        // invalid UTF-8 is shown with replacement characters
        assert_eq!(parts(b"\xffab", &r, true), vec![("\u{fffd}".into(), false), ("ab".into(), true)]);
    }
}
