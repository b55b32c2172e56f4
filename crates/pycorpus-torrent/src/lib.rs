//! Sharing shards and datasets over BitTorrent.
//!
//! - [`metainfo`]: deterministic `.torrent` files (the same folder gives the same info-hash
//!   anywhere), and a strict reader for foreign ones (crate `pycorpus-metainfo`, re-exported).
//! - [`swarm`]: peers, trackers and the DHT, on librqbit.
//! - [`webseed`]: BEP 19 web seeds with Range requests (librqbit has none).
//! - [`get`]: the datastore, resume, and the choice between peers and web seeds.

pub mod check;
pub mod get;
pub mod magnet;
pub use pycorpus_metainfo::{bencode, layout, metainfo};
mod spec;
pub mod swarm;
pub mod webseed;

pub use get::{GetOptions, GetReport, Phase, Progress, get};
pub use magnet::Request;
pub use metainfo::{CreateOptions, Metainfo, create};
pub use spec::{CreateSpec, DEFAULT_LISTEN, GetSpec, Rate, SeedSpec};
pub use swarm::{Swarm, SwarmOptions, SwarmStats, Torrent};
pub use webseed::WebSeedOptions;

use std::path::{Path, PathBuf};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A `.torrent` file is malformed or unsafe.
    #[error("bad torrent: {0}")]
    BadTorrent(String),
    /// A source sent metainfo for another torrent.
    #[error("{source_url} sent the metainfo of {got}, not of {asked} as asked; refused")]
    WrongHash {
        /// Who sent it.
        source_url: String,
        /// The info-hash asked for.
        asked: String,
        /// The one received.
        got: String,
    },
    /// Peers, trackers or web seeds failed.
    #[error("{0}")]
    Net(String),
    /// A request that cannot be met as given.
    #[error("{0}")]
    Invalid(String),
    /// Ctrl-C.
    #[error("interrupted; run the same command again to resume")]
    Interrupted,
}

/// The metainfo crate's errors keep their kind here: `get`, the swarm and web seeds raise the
/// same kinds themselves, so callers match on one enum.
impl From<pycorpus_metainfo::MetainfoError> for TorrentError {
    fn from(e: pycorpus_metainfo::MetainfoError) -> TorrentError {
        use pycorpus_metainfo::MetainfoError as M;
        match e {
            M::Io { path, source } => TorrentError::Io { path, source },
            M::BadTorrent(m) => TorrentError::BadTorrent(m),
            M::Invalid(m) => TorrentError::Invalid(m),
            M::Cancelled(_) => TorrentError::Interrupted,
        }
    }
}

impl TorrentError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> TorrentError {
        TorrentError::Io { path: path.to_path_buf(), source }
    }
}

/// What `seed` serves: a `.torrent` file (its content beside it, or in `data`), or a file
/// or folder whose metainfo is made on the spot. Returns the metainfo and the content root.
pub fn prepare_seed(target: &Path, data: Option<&Path>, opts: &CreateOptions) -> Result<(Metainfo, PathBuf), TorrentError> {
    if target.is_file() && target.extension().is_some_and(|e| e == "torrent") {
        let meta = Metainfo::read(target)?;
        let parent = match data {
            Some(d) => d.to_path_buf(),
            None => target.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let root = get::content_root(&meta, &parent);
        return Ok((meta, root));
    }
    let meta = create(target, opts, pycorpus_progress::Ctx::quiet())?;
    let canon = target.canonicalize().map_err(|e| TorrentError::io(target, e))?;
    let root = if meta.layout.single_file { canon.parent().expect("a file has a parent").to_path_buf() } else { canon };
    Ok((meta, root))
}

/// Adds `target` (see [`prepare_seed`]) to `swarm` to be seeded, refusing content that does
/// not verify against its metainfo; with `catalog`, also writes `<catalog>/<hash>.torrent`
/// (what `get --catalog` reads). Returns the metainfo, the torrent and the content root.
pub fn seed_target(swarm: &Swarm, target: &Path, data: Option<&Path>, opts: &CreateOptions, trackers: &[String], catalog: Option<&Path>) -> Result<(Metainfo, Torrent, PathBuf), TorrentError> {
    let (meta, root) = prepare_seed(target, data, opts)?;
    let torrent = swarm.add(&meta, &root, &[], trackers)?;
    let st = swarm.stats(&torrent);
    if st.have_bytes != st.total_bytes {
        return Err(TorrentError::Invalid(format!("{} does not hold the torrent's content: {} of {} bytes verify", root.display(), st.have_bytes, st.total_bytes)));
    }
    if let Some(dir) = catalog {
        std::fs::create_dir_all(dir).map_err(|e| TorrentError::io(dir, e))?;
        write_file_atomic(&dir.join(format!("{}.torrent", meta.hex())), &meta.bytes)?;
    }
    Ok((meta, torrent, root))
}

/// [`pycorpus_fs::write_atomic`] with the torrent crate's error.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), TorrentError> {
    pycorpus_fs::write_atomic(path, bytes).map_err(|e| TorrentError::io(&e.path, e.source))
}
