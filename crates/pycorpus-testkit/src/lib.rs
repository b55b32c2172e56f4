//! A fake package index for hermetic tests: an HTTP/1.1 server on 127.0.0.1 serving fixed
//! routes, with faults on demand (error statuses, `Retry-After`, truncated bodies, stalls,
//! redirects) and Range support, counting the requests each path receives.
#![deny(missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fault served for the first `times` requests of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After: secs` when given).
    Status(u16, Option<u64>),
    /// Send the headers and only this many bytes of the body, then close.
    Truncate(usize),
    /// Accept the request and never answer, for this long.
    Stall(Duration),
}

/// What a path serves.
#[derive(Debug, Clone)]
pub struct Route {
    /// Body.
    pub body: Vec<u8>,
    /// Content-Type.
    pub content_type: String,
    /// A redirect instead of a body.
    pub redirect: Option<String>,
    /// Faults, applied to the first requests in order.
    pub faults: Vec<Fault>,
}

impl Route {
    /// A plain route.
    pub fn new(body: impl Into<Vec<u8>>, content_type: &str) -> Route {
        Route { body: body.into(), content_type: content_type.into(), redirect: None, faults: Vec::new() }
    }
    /// Adds faults.
    pub fn with_faults(mut self, faults: Vec<Fault>) -> Route {
        self.faults = faults;
        self
    }
}

#[derive(Default)]
struct State {
    delay: Duration,
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
    ranges: Vec<(String, String)>,
}

/// The server; stops when dropped (its thread ends with the process).
pub struct IndexServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl IndexServer {
    /// Starts a server with no routes.
    pub fn start() -> IndexServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &s);
                });
            }
        });
        IndexServer { base, state }
    }

    /// Sets (or replaces) the route at `path` (starting with `/`).
    pub fn route(&self, path: &str, route: Route) {
        self.state.lock().expect("lock").routes.insert(path.to_string(), route);
    }

    /// A redirect from `path` to `to`.
    pub fn redirect(&self, path: &str, to: &str) {
        let mut r = Route::new(Vec::new(), "text/plain");
        r.redirect = Some(to.to_string());
        self.route(path, r);
    }

    /// Waits this long before answering each request (a slow network).
    pub fn set_delay(&self, d: Duration) {
        self.state.lock().expect("lock").delay = d;
    }

    /// Removes a route (it then answers 404).
    pub fn remove(&self, path: &str) {
        self.state.lock().expect("lock").routes.remove(path);
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state.lock().expect("lock").hits.get(path).copied().unwrap_or(0)
    }

    /// Total requests for paths starting with `prefix`.
    pub fn hits_under(&self, prefix: &str) -> usize {
        self.state.lock().expect("lock").hits.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
    }

    /// Every `Range` header received, with its path.
    pub fn ranges(&self) -> Vec<(String, String)> {
        self.state.lock().expect("lock").ranges.clone()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    // One request per connection (every answer says `Connection: close`).
    {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut range = None;
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "range" => range = Some(v.trim().to_string()),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut sink = vec![0u8; length];
        reader.read_exact(&mut sink)?;
        let path_only = path.split('?').next().unwrap_or("/").to_string();
        let delay = state.lock().expect("lock").delay;
        std::thread::sleep(delay);
        let (route, fault) = {
            let mut st = state.lock().expect("lock");
            *st.hits.entry(path_only.clone()).or_default() += 1;
            if let Some(r) = &range {
                st.ranges.push((path_only.clone(), r.clone()));
            }
            match st.routes.get_mut(&path_only) {
                Some(r) => {
                    let fault = if r.faults.is_empty() { None } else { Some(r.faults.remove(0)) };
                    (Some(r.clone()), fault)
                }
                None => (None, None),
            }
        };
        let Some(route) = route else {
            write!(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found")?;
            return Ok(());
        };
        match fault {
            Some(Fault::Status(code, retry)) => {
                let ra = retry.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
                write!(out, "HTTP/1.1 {code} Fault\r\n{ra}Content-Length: 5\r\nConnection: close\r\n\r\nfault")?;
                return Ok(());
            }
            Some(Fault::Stall(d)) => {
                std::thread::sleep(d);
                return Ok(());
            }
            _ => {}
        }
        if let Some(to) = &route.redirect {
            write!(out, "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
        let total = route.body.len();
        let (status, start) = match range.as_deref().and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.strip_suffix('-')).and_then(|s| s.parse::<usize>().ok()) {
            Some(s) if s >= total => {
                write!(out, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
                return Ok(());
            }
            Some(s) => ("206 Partial Content", s),
            None => ("200 OK", 0),
        };
        let body = &route.body[start..];
        let cr = if start > 0 { format!("Content-Range: bytes {start}-{}/{total}\r\n", total - 1) } else { String::new() };
        write!(out, "HTTP/1.1 {status}\r\nContent-Type: {}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{cr}Connection: close\r\n\r\n", route.content_type, body.len())?;
        if method != "HEAD" {
            match fault {
                Some(Fault::Truncate(n)) => {
                    out.write_all(&body[..n.min(body.len())])?;
                    out.flush()?;
                    return Ok(());
                }
                _ => out.write_all(body)?,
            }
        }
        out.flush()?;
        Ok(())
    }
}
