//! Reading the entries of a distribution file, treating every archive as hostile.
//!
//! One pass, streaming, with a [`Limits`] budget checked on every read: entry count, declared
//! and actual entry size, total uncompressed bytes, and the compression ratio (decompression
//! bombs). The container is recognised by its first bytes, not trusted from its name.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;

/// Caps applied while reading one archive. The defaults admit every real distribution we
/// know of (the largest wheels unpack to a few GiB) and stop bombs early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files, links, folders) in one archive. Default 200,000.
    pub max_entries: u64,
    /// Largest single entry, declared or actual, in bytes. Default 2 GiB.
    pub max_entry_size: u64,
    /// Most bytes decompressed from one archive. Default 16 GiB.
    pub max_total_size: u64,
    /// Highest ratio of decompressed bytes to archive bytes. Default 250.
    pub max_ratio: u64,
    /// The ratio is only checked once this many bytes were decompressed. Default 64 MiB.
    pub ratio_floor: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_entries: 200_000, max_entry_size: 2 << 30, max_total_size: 16 << 30, max_ratio: 250, ratio_floor: 64 << 20 }
    }
}

/// A limit that an archive broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// Too many entries.
    #[error("more than {limit} entries")]
    Entries {
        /// The limit.
        limit: u64,
    },
    /// One entry too large.
    #[error("entry {name} is {size} bytes, over the limit of {limit} bytes per entry")]
    EntrySize {
        /// Entry name (escaped).
        name: String,
        /// Declared or actual size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Too many bytes in all.
    #[error("more than {limit} bytes uncompressed in total")]
    TotalSize {
        /// The limit.
        limit: u64,
    },
    /// Decompression bomb.
    #[error("compression ratio over {limit}:1 ({uncompressed} bytes out of {compressed}): a decompression bomb")]
    Ratio {
        /// The limit.
        limit: u64,
        /// Archive size.
        compressed: u64,
        /// Bytes decompressed when it was noticed.
        uncompressed: u64,
    },
}

/// Why an archive could not be read to its end.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file could not be opened or read at all.
    #[error("cannot read the file: {0}")]
    Open(#[source] io::Error),
    /// The first bytes are no archive format we know.
    #[error("not a recognised archive (first bytes: {magic})")]
    UnknownFormat {
        /// Hex of the first bytes.
        magic: String,
    },
    /// Broken compression, a bad header, or a file that ends too early.
    #[error("corrupt or truncated archive: {0}")]
    Corrupt(String),
    /// A [`Limits`] cap was hit.
    #[error("{0}")]
    Limit(#[from] LimitExceeded),
    /// The visitor asked to stop (its own error is kept by the caller).
    #[error("reading stopped by the caller")]
    Aborted,
}

impl ArchiveError {
    /// A short stable code for the `error` column and for counting failures.
    pub fn code(&self) -> &'static str {
        match self {
            ArchiveError::Open(_) => "unreadable",
            ArchiveError::UnknownFormat { .. } => "unknown-format",
            ArchiveError::Corrupt(_) => "corrupt",
            ArchiveError::Limit(LimitExceeded::Entries { .. }) => "too-many-entries",
            ArchiveError::Limit(LimitExceeded::EntrySize { .. }) => "entry-too-large",
            ArchiveError::Limit(LimitExceeded::TotalSize { .. }) => "too-large",
            ArchiveError::Limit(LimitExceeded::Ratio { .. }) => "bomb",
            ArchiveError::Aborted => "aborted",
        }
    }

    /// Builds the error a visitor returns to stop reading (see [`read_archive`]).
    pub fn abort() -> io::Error {
        io::Error::new(io::ErrorKind::Interrupted, AbortMarker)
    }

    fn from_io(e: io::Error) -> ArchiveError {
        if let Some(limit) = e.get_ref().and_then(|i| i.downcast_ref::<LimitExceeded>()) {
            return ArchiveError::Limit(limit.clone());
        }
        if e.get_ref().is_some_and(|i| i.is::<AbortMarker>()) {
            return ArchiveError::Aborted;
        }
        ArchiveError::Corrupt(e.to_string())
    }
}

#[derive(Debug)]
struct AbortMarker;
impl std::fmt::Display for AbortMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("aborted")
    }
}
impl std::error::Error for AbortMarker {}

/// Compression of a tar stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip (also several concatenated members).
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// zstd.
    Zstd,
}

/// The container found by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// A tar stream, maybe compressed.
    Tar(Compression),
    /// A zip file (sdist `.zip`, wheel, egg).
    Zip,
    /// A `.conda` package: a zip holding `info-*.tar.zst` and `pkg-*.tar.zst`.
    CondaZip,
}

/// What an entry is. Links are reported, never followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file; its contents are the reader handed to the visitor.
    File,
    /// A symbolic link to `target` (raw bytes).
    Symlink {
        /// Link target as stored.
        target: Vec<u8>,
    },
    /// A hard link to another entry.
    Hardlink {
        /// Target entry name as stored.
        target: Vec<u8>,
    },
}

/// One entry as the visitor sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name as stored: raw bytes for tar, the decoded name for zip (UTF-8 when flagged,
    /// else CP437, as Python's `zipfile` reads it).
    pub name: Vec<u8>,
    /// File or link.
    pub kind: EntryKind,
    /// Declared size of the contents (0 for links).
    pub size: u64,
    /// Bytes the contents take in the archive, where the format says so before reading (zip
    /// entries); `None` for tar, whose entries are only known by reading through them.
    pub compressed_size: Option<u64>,
}

impl Entry {
    /// True when this entry's own compression ratio (declared size over stored size) is over
    /// `limits.max_ratio`: decompressing it would break the archive's bomb check by itself.
    /// Only zip entries can tell before reading; a tar entry never does.
    pub fn is_bomb_by_itself(&self, limits: &Limits) -> bool {
        self.compressed_size.is_some_and(|c| self.size / c.max(1) > limits.max_ratio)
    }
}

/// Counts after a complete read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// The container that was read.
    pub container: Container,
    /// Entries seen (all kinds).
    pub entries: u64,
    /// Bytes decompressed.
    pub uncompressed: u64,
}

/// Recognises the container from the first bytes of `path`; `.conda` names select
/// [`Container::CondaZip`] for zip contents.
pub fn sniff(path: &Path) -> Result<Container, ArchiveError> {
    let mut head = [0u8; 512];
    let mut f = File::open(path).map_err(ArchiveError::Open)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).map_err(ArchiveError::Open)? {
            0 => break,
            k => n += k,
        }
    }
    let head = &head[..n];
    let is_conda = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("conda"));
    Ok(if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        if is_conda { Container::CondaZip } else { Container::Zip }
    } else if head.starts_with(b"\x1f\x8b") {
        Container::Tar(Compression::Gzip)
    } else if head.starts_with(b"BZh") {
        Container::Tar(Compression::Bzip2)
    } else if head.starts_with(b"\xfd7zXZ\x00") {
        Container::Tar(Compression::Xz)
    } else if head.starts_with(b"\x28\xb5\x2f\xfd") {
        Container::Tar(Compression::Zstd)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Container::Tar(Compression::None)
    } else {
        let magic = head.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>();
        return Err(ArchiveError::UnknownFormat { magic: if magic.is_empty() { "empty file".into() } else { magic } });
    })
}

/// The visitor called once per file or link entry (folders are not reported). It may read
/// the entry's contents from the reader, or leave them: a zip entry left unread is never
/// decompressed, nor counted against the budget (a tar entry is read through to reach the next); read errors (corruption, limits) must be returned
/// as they are. To stop for a reason of its own it returns [`ArchiveError::abort`].
pub type Visitor<'v> = dyn FnMut(&Entry, &mut dyn Read) -> io::Result<()> + 'v;

/// Reads every entry of the archive at `path`, calling `visit` for each file and link.
pub fn read_archive(path: &Path, limits: &Limits, visit: &mut Visitor<'_>) -> Result<Summary, ArchiveError> {
    let container = sniff(path)?;
    let file = File::open(path).map_err(ArchiveError::Open)?;
    let compressed = file.metadata().map_err(ArchiveError::Open)?.len();
    let budget = Budget { limits: *limits, compressed, total: Cell::new(0), entries: Cell::new(0) };
    let reader = BufReader::with_capacity(256 * 1024, file);
    let result = match container {
        Container::Tar(c) => read_tar(decompress(reader, c).map_err(ArchiveError::from_io)?, &budget, visit),
        Container::Zip | Container::CondaZip => read_zip(reader, container == Container::CondaZip, &budget, visit),
    };
    result.map_err(ArchiveError::from_io)?;
    Ok(Summary { container, entries: budget.entries.get(), uncompressed: budget.total.get() })
}

/// The decompressed stream, buffered: tar reads 512-byte headers, and a decoder asked for 512
/// bytes at a time is several times slower than one filling a large buffer.
fn decompress<'r, R: io::BufRead + 'r>(r: R, c: Compression) -> io::Result<Box<dyn Read + 'r>> {
    const BUF: usize = 256 * 1024;
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(BufReader::with_capacity(BUF, flate2::bufread::MultiGzDecoder::new(r))),
        Compression::Bzip2 => Box::new(BufReader::with_capacity(BUF, bzip2::bufread::MultiBzDecoder::new(r))),
        Compression::Xz => Box::new(BufReader::with_capacity(BUF, liblzma::bufread::XzDecoder::new_multi_decoder(r))),
        Compression::Zstd => Box::new(BufReader::with_capacity(BUF, zstd::stream::read::Decoder::with_buffer(r)?)),
    })
}

/// The shared budget of one archive; counters are cells because reading is single-threaded.
struct Budget {
    limits: Limits,
    compressed: u64,
    total: Cell<u64>,
    entries: Cell<u64>,
}

impl Budget {
    fn count_entry(&self) -> io::Result<()> {
        let n = self.entries.get() + 1;
        self.entries.set(n);
        if n > self.limits.max_entries {
            return Err(io::Error::other(LimitExceeded::Entries { limit: self.limits.max_entries }));
        }
        Ok(())
    }

    fn check_declared(&self, name: &[u8], size: u64) -> io::Result<()> {
        if size > self.limits.max_entry_size {
            return Err(io::Error::other(LimitExceeded::EntrySize { name: crate::escape_name(name), size, limit: self.limits.max_entry_size }));
        }
        Ok(())
    }

    fn add(&self, n: u64) -> io::Result<()> {
        let total = self.total.get() + n;
        self.total.set(total);
        let l = &self.limits;
        if total > l.max_total_size {
            return Err(io::Error::other(LimitExceeded::TotalSize { limit: l.max_total_size }));
        }
        if total > l.ratio_floor && total / self.compressed.max(1) > l.max_ratio {
            return Err(io::Error::other(LimitExceeded::Ratio { limit: l.max_ratio, compressed: self.compressed, uncompressed: total }));
        }
        Ok(())
    }
}

/// Counts every decompressed byte against the budget. With `entry`, also caps one entry.
struct Metered<'b, R> {
    inner: R,
    budget: &'b Budget,
    entry: Option<(Vec<u8>, u64)>,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some((name, read)) = self.entry.as_mut() {
            *read += n as u64;
            self.budget.check_declared(name, *read)?;
        }
        self.budget.add(n as u64)?;
        Ok(n)
    }
}

fn read_tar<R: Read>(r: R, budget: &Budget, visit: &mut Visitor<'_>) -> io::Result<()> {
    let mut archive = tar::Archive::new(Metered { inner: r, budget, entry: None });
    for entry in archive.entries()? {
        let mut entry = entry?;
        budget.count_entry()?;
        let ty = entry.header().entry_type();
        let name = entry.path_bytes().into_owned();
        let kind = if ty.is_file() || ty.is_contiguous() || ty.is_gnu_sparse() {
            EntryKind::File
        } else if ty.is_symlink() {
            EntryKind::Symlink { target: entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default() }
        } else if ty.is_hard_link() {
            EntryKind::Hardlink { target: entry.link_name_bytes().map(|c| c.into_owned()).unwrap_or_default() }
        } else {
            continue; // folders, devices, fifos: nothing to index
        };
        let size = if kind == EntryKind::File { entry.size() } else { 0 };
        budget.check_declared(&name, size)?;
        visit(&Entry { name, kind, size, compressed_size: None }, &mut entry)?;
    }
    Ok(())
}

const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;
/// Longest symlink target read from a zip entry.
const MAX_LINK_TARGET: u64 = 4096;

fn read_zip<R: Read + Seek>(r: R, conda: bool, budget: &Budget, visit: &mut Visitor<'_>) -> io::Result<()> {
    let mut zip = zip::ZipArchive::new(r).map_err(zip_err)?;
    if zip.len() as u64 > budget.limits.max_entries {
        return Err(io::Error::other(LimitExceeded::Entries { limit: budget.limits.max_entries }));
    }
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(zip_err)?;
        budget.count_entry()?;
        if file.is_dir() {
            continue;
        }
        // Decoded as Python's zipfile does (UTF-8 when flagged, else CP437); raw bytes if that fails.
        let name = file.name().map(|n| n.as_bytes().to_vec()).unwrap_or_else(|_| file.name_raw().to_vec());
        let size = file.size();
        let compressed_size = file.compressed_size();
        budget.check_declared(&name, size)?;
        if conda && name.ends_with(b".tar.zst") && !name.contains(&b'/') {
            let decoder = zstd::stream::read::Decoder::new(Metered { inner: &mut file, budget, entry: None })?;
            read_tar(decoder, budget, visit)?;
            continue;
        }
        let is_link = file.unix_mode().is_some_and(|m| m & S_IFMT == S_IFLNK);
        let mut metered = Metered { inner: &mut file, budget, entry: Some((name.clone(), 0)) };
        if is_link {
            let mut target = Vec::new();
            (&mut metered).take(MAX_LINK_TARGET).read_to_end(&mut target)?;
            visit(&Entry { name, kind: EntryKind::Symlink { target }, size: 0, compressed_size: None }, &mut io::empty())?;
        } else {
            visit(&Entry { name, kind: EntryKind::File, size, compressed_size: Some(compressed_size) }, &mut metered)?;
        }
    }
    Ok(())
}

fn zip_err(e: zip::result::ZipError) -> io::Error {
    match e {
        zip::result::ZipError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}
