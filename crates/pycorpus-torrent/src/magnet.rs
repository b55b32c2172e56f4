//! What `get` is asked for: a bare info-hash, a magnet link (BEP 9, with `tr`, `ws` and
//! `x.pe`), or a `.torrent` file.

use crate::TorrentError;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// An info-hash, with what a magnet link may add.
    Hash(Magnet),
    /// A local `.torrent` file.
    File(PathBuf),
}

/// The parts of a magnet link we use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Magnet {
    /// The info-hash asked for.
    pub info_hash: [u8; 20],
    /// `dn`.
    pub name: Option<String>,
    /// `tr`.
    pub trackers: Vec<String>,
    /// `ws`.
    pub webseeds: Vec<String>,
    /// `x.pe`.
    pub peers: Vec<SocketAddr>,
}

impl Request {
    /// Reads `arg`: 40 hex digits or 32 base32 letters, `magnet:?...`, or a path to a file.
    pub fn parse(arg: &str) -> Result<Request, TorrentError> {
        if let Some(query) = arg.strip_prefix("magnet:?") {
            return parse_magnet(query).map(Request::Hash);
        }
        if let Some(h) = parse_hash(arg) {
            return Ok(Request::Hash(Magnet { info_hash: h, ..Default::default() }));
        }
        let path = PathBuf::from(arg);
        if path.is_file() {
            return Ok(Request::File(path));
        }
        Err(TorrentError::Invalid(format!("{arg:?} is not an info-hash (40 hex digits), a magnet link or an existing .torrent file")))
    }
}

/// 40 hex digits or 32 base32 characters.
pub fn parse_hash(s: &str) -> Option<[u8; 20]> {
    if s.len() == 40 {
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out).ok()?;
        return Some(out);
    }
    if s.len() == 32 {
        let mut bits: u64 = 0;
        let mut n = 0;
        let mut out = Vec::with_capacity(20);
        for c in s.bytes() {
            let v = match c.to_ascii_uppercase() {
                c @ b'A'..=b'Z' => c - b'A',
                c @ b'2'..=b'7' => c - b'2' + 26,
                _ => return None,
            };
            bits = (bits << 5) | u64::from(v);
            n += 5;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
            }
        }
        return out.try_into().ok();
    }
    None
}

fn parse_magnet(query: &str) -> Result<Magnet, TorrentError> {
    let bad = |m: String| TorrentError::Invalid(format!("magnet link: {m}"));
    let mut m = Magnet::default();
    let mut hash = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v).ok_or_else(|| bad(format!("bad percent-encoding in {k}")))?;
        match k {
            "xt" => {
                if let Some(h) = v.strip_prefix("urn:btih:") {
                    hash = Some(parse_hash(h).ok_or_else(|| bad(format!("{h:?} is not an info-hash")))?);
                }
            }
            "dn" => m.name = Some(v),
            "tr" => m.trackers.push(v),
            "ws" => m.webseeds.push(v),
            "x.pe" => m.peers.push(v.parse().map_err(|_| bad(format!("peer {v:?} is not IP:PORT")))?),
            _ => {}
        }
    }
    m.info_hash = hash.ok_or_else(|| bad("no xt=urn:btih: info-hash".into()))?;
    Ok(m)
}

/// Percent-decodes (and `+` as space); `None` on bad escapes or non-UTF-8.
fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

pub use pycorpus_metainfo::percent_encode as encode;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn magnets_and_hashes() {
        let hex = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
        let Request::Hash(m) = Request::parse(hex).unwrap() else { panic!() };
        assert_eq!(hex::encode(m.info_hash), hex);
        let b32 = Request::parse("YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK").unwrap();
        assert_eq!(b32, Request::Hash(m.clone()));
        let link = format!("magnet:?xt=urn:btih:{hex}&dn=a%20b&tr={}&ws=http%3A%2F%2F127.0.0.1%3A8%2Fx%2F&x.pe=127.0.0.1:6881", encode("http://127.0.0.1:7/announce"));
        let Request::Hash(m) = Request::parse(&link).unwrap() else { panic!() };
        assert_eq!(m.name.as_deref(), Some("a b"));
        assert_eq!(m.trackers, ["http://127.0.0.1:7/announce"]);
        assert_eq!(m.webseeds, ["http://127.0.0.1:8/x/"]);
        assert_eq!(m.peers, ["127.0.0.1:6881".parse().unwrap()]);
        for bad in ["magnet:?dn=x", "magnet:?xt=urn:btih:zz", "magnet:?xt=urn:btih:{hex}&x.pe=nope", "not-a-thing"] {
            assert!(Request::parse(&bad.replace("{hex}", hex)).is_err(), "{bad}");
        }
    }
}
