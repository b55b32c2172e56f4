//! `.torrent` files (BEP 3 metainfo, BEP 12 announce-list, BEP 19 url-list): made by us
//! deterministically, and read from others with every field checked before use.
//!
//! Determinism: files are listed in byte order of their path, component by component; the
//! piece length follows [`piece_length_for`]; the info dictionary holds only `files`/`length`,
//! `name`, `piece length` and `pieces`; no creation date unless asked. So the same folder built
//! twice, anywhere, gives the same info-hash.

use crate::MetainfoError;
use crate::bencode::{self, Value};
use crate::layout::{FileSpan, Layout};
use pycorpus_progress::Ctx;
use rayon::prelude::*;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Smallest piece length used.
pub const MIN_PIECE: u64 = 16 * 1024;
/// Largest piece length we make.
pub const MAX_PIECE: u64 = 16 * 1024 * 1024;
/// Largest piece length we accept from others (memory per piece in flight is bounded by it).
pub const MAX_FOREIGN_PIECE: u64 = 64 * 1024 * 1024;
/// Pieces a torrent aims at: fewer means a smaller .torrent, more means finer resume.
pub const TARGET_PIECES: u64 = 2048;

/// The piece-length rule: the smallest power of two from 16 KiB to 16 MiB that keeps the
/// torrent within 2,048 pieces (a 500 MB shard gets 256 KiB pieces, 1 TB gets 16 MiB).
pub fn piece_length_for(total: u64) -> u64 {
    let mut p = MIN_PIECE;
    while p < MAX_PIECE && total.div_ceil(p) > TARGET_PIECES {
        p *= 2;
    }
    p
}

/// A parsed or freshly made torrent.
#[derive(Debug, Clone)]
pub struct Metainfo {
    /// sha1 of the bencoded `info` dictionary.
    pub info_hash: [u8; 20],
    /// `info.name`: the folder (or single file) the content lands in.
    pub name: String,
    /// Where the content's files lie and how pieces cut across them.
    pub layout: Layout,
    /// sha1 of each piece.
    pub pieces: Vec<[u8; 20]>,
    /// `announce` then `announce-list`, without repeats.
    pub trackers: Vec<String>,
    /// `url-list` (BEP 19).
    pub webseeds: Vec<String>,
    /// The whole `.torrent` file.
    pub bytes: Vec<u8>,
}

/// What `create` adds around the info dictionary.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Tracker URLs (`announce`, and `announce-list` when more than one).
    pub trackers: Vec<String>,
    /// Web seed URLs (`url-list`).
    pub webseeds: Vec<String>,
    /// `creation date` (Unix seconds); outside `info`, so it does not change the info-hash.
    pub creation_date: Option<i64>,
    /// Overrides the piece-length rule (a power of two, 16 KiB to 16 MiB).
    pub piece_length: Option<u64>,
}

impl Metainfo {
    /// The info-hash in lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.info_hash)
    }

    /// Bytes of content.
    pub fn total_length(&self) -> u64 {
        self.layout.total
    }

    /// A magnet link with the name, trackers and web seeds.
    pub fn magnet(&self) -> String {
        let mut m = format!("magnet:?xt=urn:btih:{}&dn={}", self.hex(), crate::percent_encode(&self.name));
        for t in &self.trackers {
            m.push_str("&tr=");
            m.push_str(&crate::percent_encode(t));
        }
        for w in &self.webseeds {
            m.push_str("&ws=");
            m.push_str(&crate::percent_encode(w));
        }
        m
    }

    /// Reads a `.torrent` file, refusing anything unsafe to download: paths that leave the
    /// folder, repeated paths, a piece count that does not match the length, huge pieces.
    pub fn parse(bytes: Vec<u8>) -> Result<Metainfo, MetainfoError> {
        let bad = |what: String| MetainfoError::BadTorrent(what);
        let decoded = bencode::decode(&bytes).map_err(|e| bad(e.to_string()))?;
        let raw_info = decoded.raw_info.ok_or_else(|| bad("no info dictionary".into()))?;
        let info_hash: [u8; 20] = Sha1::digest(raw_info).into();
        let top = &decoded.value;
        let info = top.get("info").filter(|v| matches!(v, Value::Dict(_))).ok_or_else(|| bad("info is not a dictionary".into()))?;
        let name = info.get("name").and_then(Value::as_str).ok_or_else(|| bad("no UTF-8 name".into()))?.to_string();
        check_component(&name).map_err(|e| bad(format!("name {name:?}: {e}")))?;
        let piece_length = info.get("piece length").and_then(Value::as_int).ok_or_else(|| bad("no piece length".into()))?;
        if piece_length <= 0 || piece_length as u64 > MAX_FOREIGN_PIECE {
            return Err(bad(format!("piece length {piece_length} outside 1..={MAX_FOREIGN_PIECE}")));
        }
        let piece_length = piece_length as u64;
        let pieces_raw = info.get("pieces").and_then(Value::as_bytes).ok_or_else(|| bad("no pieces".into()))?;
        if pieces_raw.len() % 20 != 0 {
            return Err(bad("pieces is not a multiple of 20 bytes".into()));
        }
        let pieces: Vec<[u8; 20]> = pieces_raw.chunks_exact(20).map(|c| c.try_into().expect("20 bytes")).collect();
        let length = |v: &Value| v.as_int().filter(|&n| n >= 0).map(|n| n as u64);
        let (files, single) = match (info.get("length"), info.get("files")) {
            (Some(l), None) => {
                let len = length(l).ok_or_else(|| bad("bad length".into()))?;
                (vec![FileSpan::new(PathBuf::from(&name), len)], true)
            }
            (None, Some(list)) => {
                let list = list.as_list().ok_or_else(|| bad("files is not a list".into()))?;
                let mut out = Vec::with_capacity(list.len());
                let mut seen = BTreeSet::new();
                for f in list {
                    let len = f.get("length").and_then(length).ok_or_else(|| bad("a file without a valid length".into()))?;
                    let parts = f.get("path").and_then(Value::as_list).ok_or_else(|| bad("a file without a path".into()))?;
                    let mut comps = Vec::with_capacity(parts.len());
                    for p in parts {
                        let c = p.as_str().ok_or_else(|| bad("a path component that is not UTF-8".into()))?;
                        check_component(c).map_err(|e| bad(format!("path component {c:?}: {e}")))?;
                        comps.push(c.to_string());
                    }
                    if comps.is_empty() {
                        return Err(bad("a file with an empty path".into()));
                    }
                    if !seen.insert(comps.clone()) {
                        return Err(bad(format!("path {} listed twice", comps.join("/"))));
                    }
                    out.push(FileSpan::new(comps.iter().collect(), len));
                }
                // A file may not also be a folder of another ("a" and "a/b").
                for c in &seen {
                    for i in 1..c.len() {
                        if seen.contains(&c[..i]) {
                            return Err(bad(format!("{} is both a file and a folder", c[..i].join("/"))));
                        }
                    }
                }
                (out, false)
            }
            _ => return Err(bad("info needs exactly one of length and files".into())),
        };
        let layout = Layout::new(files, piece_length, single);
        if layout.piece_count() != pieces.len() as u64 {
            return Err(bad(format!("{} piece hashes for {} bytes in pieces of {piece_length}", pieces.len(), layout.total)));
        }
        let mut trackers: Vec<String> = Vec::new();
        let add = |t: &str, into: &mut Vec<String>| {
            if !t.is_empty() && !into.iter().any(|x| x == t) {
                into.push(t.to_string());
            }
        };
        if let Some(a) = top.get("announce").and_then(Value::as_str) {
            add(a, &mut trackers);
        }
        for tier in top.get("announce-list").and_then(Value::as_list).unwrap_or(&[]) {
            for t in tier.as_list().unwrap_or(&[]) {
                if let Some(t) = t.as_str() {
                    add(t, &mut trackers);
                }
            }
        }
        let mut webseeds = Vec::new();
        match top.get("url-list") {
            Some(Value::Bytes(_)) => add(top.get("url-list").and_then(Value::as_str).unwrap_or(""), &mut webseeds),
            Some(Value::List(l)) => l.iter().filter_map(Value::as_str).for_each(|w| add(w, &mut webseeds)),
            _ => {}
        }
        Ok(Metainfo { info_hash, name, layout, pieces, trackers, webseeds, bytes })
    }

    /// Reads and parses a `.torrent` file.
    pub fn read(path: &Path) -> Result<Metainfo, MetainfoError> {
        let bytes = std::fs::read(path).map_err(|e| MetainfoError::io(path, e))?;
        Metainfo::parse(bytes).map_err(|e| match e {
            MetainfoError::BadTorrent(m) => MetainfoError::BadTorrent(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}

/// Why a path component is unsafe, if it is.
fn check_component(c: &str) -> Result<(), &'static str> {
    if c.is_empty() || c == "." || c == ".." {
        Err("empty, . or ..")
    } else if c.contains(['/', '\\', '\0']) {
        Err("contains a separator or NUL")
    } else if c.len() > 255 {
        Err("longer than 255 bytes")
    } else {
        Ok(())
    }
}

/// The files under `target` in torrent order: sorted by path, component by component.
/// Symlinks and special files are refused (what they point to is not ours to publish).
fn list_files(target: &Path) -> Result<Vec<FileSpan>, MetainfoError> {
    let mut files: Vec<(Vec<String>, u64)> = Vec::new();
    for entry in walkdir::WalkDir::new(target).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| MetainfoError::Invalid(format!("reading {}: {e}", target.display())))?;
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        if !ft.is_file() {
            return Err(MetainfoError::Invalid(format!("{} is a symlink or special file; only regular files can be shared", entry.path().display())));
        }
        let rel = entry.path().strip_prefix(target).expect("under target");
        let mut comps = Vec::new();
        for c in rel.components() {
            let s = c.as_os_str().to_str().ok_or_else(|| MetainfoError::Invalid(format!("{} is not a UTF-8 name", entry.path().display())))?;
            check_component(s).map_err(|e| MetainfoError::Invalid(format!("{}: {e}", entry.path().display())))?;
            comps.push(s.to_string());
        }
        let len = entry.metadata().map_err(|e| MetainfoError::Invalid(format!("{}: {e}", entry.path().display())))?.len();
        files.push((comps, len));
    }
    files.sort();
    Ok(files.into_iter().map(|(c, len)| FileSpan::new(c.iter().collect(), len)).collect())
}

/// Makes the metainfo of a file or folder, hashing its pieces on all cores; reports pieces
/// (and their bytes) hashed to `ctx`, and stops with [`MetainfoError::Cancelled`] within a
/// piece of each thread once it is cancelled (nothing is written either way).
pub fn create(target: &Path, opts: &CreateOptions, ctx: Ctx<'_>) -> Result<Metainfo, MetainfoError> {
    let meta = std::fs::metadata(target).map_err(|e| MetainfoError::io(target, e))?;
    let target = target.canonicalize().map_err(|e| MetainfoError::io(target, e))?;
    let name = target.file_name().and_then(|n| n.to_str()).ok_or_else(|| MetainfoError::Invalid(format!("{} has no UTF-8 name", target.display())))?.to_string();
    check_component(&name).map_err(|e| MetainfoError::Invalid(format!("{name:?}: {e}")))?;
    let (files, single, root) = if meta.is_dir() {
        (list_files(&target)?, false, target.clone())
    } else {
        (vec![FileSpan::new(PathBuf::from(&name), meta.len())], true, target.parent().expect("a file has a parent").to_path_buf())
    };
    if files.is_empty() {
        return Err(MetainfoError::Invalid(format!("{} holds no files", target.display())));
    }
    let total: u64 = files.iter().map(|f| f.length).sum();
    let piece_length = match opts.piece_length {
        Some(p) if p.is_power_of_two() && (MIN_PIECE..=MAX_PIECE).contains(&p) => p,
        Some(p) => return Err(MetainfoError::Invalid(format!("piece length {p} is not a power of two from 16 KiB to 16 MiB"))),
        None => piece_length_for(total),
    };
    let layout = Layout::new(files, piece_length, single);
    let pieces = hash_pieces(&layout, &root, ctx)?;

    let mut info = BTreeMap::new();
    info.insert(b"name".to_vec(), Value::str(&name));
    info.insert(b"piece length".to_vec(), Value::Int(piece_length as i64));
    info.insert(b"pieces".to_vec(), Value::Bytes(pieces.concat()));
    if single {
        info.insert(b"length".to_vec(), Value::Int(total as i64));
    } else {
        let list = layout
            .files
            .iter()
            .map(|f| {
                let mut d = BTreeMap::new();
                d.insert(b"length".to_vec(), Value::Int(f.length as i64));
                let comps = f.path.iter().map(|c| Value::str(c.to_str().expect("checked UTF-8"))).collect();
                d.insert(b"path".to_vec(), Value::List(comps));
                Value::Dict(d)
            })
            .collect();
        info.insert(b"files".to_vec(), Value::List(list));
    }
    let mut top = BTreeMap::new();
    top.insert(b"info".to_vec(), Value::Dict(info));
    top.insert(b"created by".to_vec(), Value::str(concat!("pycorpus/", env!("CARGO_PKG_VERSION"))));
    if let Some(first) = opts.trackers.first() {
        top.insert(b"announce".to_vec(), Value::str(first));
        if opts.trackers.len() > 1 {
            let tiers = opts.trackers.iter().map(|t| Value::List(vec![Value::str(t)])).collect();
            top.insert(b"announce-list".to_vec(), Value::List(tiers));
        }
    }
    if !opts.webseeds.is_empty() {
        top.insert(b"url-list".to_vec(), Value::List(opts.webseeds.iter().map(|w| Value::str(w)).collect()));
    }
    if let Some(d) = opts.creation_date {
        top.insert(b"creation date".to_vec(), Value::Int(d));
    }
    Metainfo::parse(Value::Dict(top).encode())
}

/// sha1 of every piece of the files under `root`, in parallel; reads each byte once.
fn hash_pieces(layout: &Layout, root: &Path, ctx: Ctx<'_>) -> Result<Vec<[u8; 20]>, MetainfoError> {
    let handles = layout.open_read(root).map_err(|e| MetainfoError::io(root, e))?;
    ctx.reporter.start("hash", layout.piece_count(), layout.files.iter().map(|f| f.length).sum());
    let pieces = (0..layout.piece_count())
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            ctx.check()?;
            layout.read_piece(&handles, i, buf).map_err(|e| MetainfoError::io(root, e))?;
            ctx.reporter.advance(1, buf.len() as u64);
            Ok(Sha1::digest(&buf[..]).into())
        })
        .collect();
    ctx.reporter.finish();
    pieces
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, data) in files {
            let path = d.path().join("share").join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
        d
    }

    #[test]
    fn piece_rule() {
        assert_eq!(piece_length_for(0), MIN_PIECE);
        assert_eq!(piece_length_for(5_000_000), MIN_PIECE);
        assert_eq!(piece_length_for(500_000_000), 256 * 1024);
        assert_eq!(piece_length_for(1 << 40), MAX_PIECE);
    }

    #[test]
    fn same_content_same_hash_in_any_creation_order() {
        let big = vec![7u8; 100_000];
        let a = folder(&[("b.bin", &big), ("a/z.txt", b"z"), ("a/b.txt", b"hello")]);
        let b = folder(&[("a/b.txt", b"hello"), ("b.bin", &big), ("a/z.txt", b"z")]);
        let ma = create(&a.path().join("share"), &CreateOptions::default(), Ctx::quiet()).unwrap();
        let mb = create(&b.path().join("share"), &CreateOptions { webseeds: vec!["http://127.0.0.1:1/".into()], ..Default::default() }, Ctx::quiet()).unwrap();
        assert_eq!(ma.info_hash, mb.info_hash, "trackers and web seeds stay outside info");
        let paths: Vec<_> = ma.layout.files.iter().map(|f| f.path.to_str().unwrap().to_string()).collect();
        assert_eq!(paths, ["a/b.txt", "a/z.txt", "b.bin"]);
        assert_eq!(ma.pieces.len(), 7);
        assert_eq!(mb.webseeds, ["http://127.0.0.1:1/"]);
        // Different bytes, different hash.
        let c = folder(&[("a/b.txt", b"hellO"), ("b.bin", &big), ("a/z.txt", b"z")]);
        assert_ne!(create(&c.path().join("share"), &CreateOptions::default(), Ctx::quiet()).unwrap().info_hash, ma.info_hash);
    }

    #[test]
    fn parse_refuses_huge_pieces_and_a_wrong_piece_count() {
        let torrent = |piece_length: i64, hashes: usize, length: i64| {
            let mut info = BTreeMap::new();
            info.insert(b"name".to_vec(), Value::str("x"));
            info.insert(b"length".to_vec(), Value::Int(length));
            info.insert(b"piece length".to_vec(), Value::Int(piece_length));
            info.insert(b"pieces".to_vec(), Value::Bytes(vec![0; 20 * hashes]));
            let mut top = BTreeMap::new();
            top.insert(b"info".to_vec(), Value::Dict(info));
            Metainfo::parse(Value::Dict(top).encode())
        };
        assert!(torrent(16384, 2, 20000).is_ok());
        let big = (MAX_FOREIGN_PIECE * 2) as i64;
        assert!(torrent(big, 1, big).unwrap_err().to_string().contains("piece length"));
        assert!(torrent(16384, 3, 20000).unwrap_err().to_string().contains("3 piece hashes"));
        assert!(torrent(0, 0, 0).is_err());
        assert!(torrent(16384, 1, -5).unwrap_err().to_string().contains("length"));
    }

    #[test]
    fn parse_refuses_paths_leaving_the_folder() {
        for comps in [vec![".."], vec!["a", "..", "b"], vec!["/etc"], vec![""], vec!["a\\b"]] {
            let mut f = BTreeMap::new();
            f.insert(b"length".to_vec(), Value::Int(1));
            f.insert(b"path".to_vec(), Value::List(comps.iter().map(|c| Value::str(c)).collect()));
            let mut info = BTreeMap::new();
            info.insert(b"name".to_vec(), Value::str("x"));
            info.insert(b"piece length".to_vec(), Value::Int(16384));
            info.insert(b"pieces".to_vec(), Value::Bytes(vec![0; 20]));
            info.insert(b"files".to_vec(), Value::List(vec![Value::Dict(f)]));
            let mut top = BTreeMap::new();
            top.insert(b"info".to_vec(), Value::Dict(info));
            let err = Metainfo::parse(Value::Dict(top).encode()).unwrap_err().to_string();
            assert!(err.contains("path component"), "{comps:?}: {err}");
        }
    }
}
