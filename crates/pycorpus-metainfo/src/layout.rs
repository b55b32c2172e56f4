//! Where a torrent's bytes live: its files laid end to end and cut into pieces. One mapping
//! for making, checking, fetching and writing pieces.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// One file of a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpan {
    /// Path under the content root (for a single-file torrent: its name).
    pub path: PathBuf,
    /// Bytes.
    pub length: u64,
    /// Offset of its first byte in the torrent.
    pub offset: u64,
}

impl FileSpan {
    /// A file whose offset is set by [`Layout::new`].
    pub fn new(path: PathBuf, length: u64) -> FileSpan {
        FileSpan { path, length, offset: 0 }
    }
}

/// The files of a torrent in order, and its piece length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Files in torrent order.
    pub files: Vec<FileSpan>,
    /// Piece length.
    pub piece_length: u64,
    /// Sum of the lengths.
    pub total: u64,
    /// A single-file torrent: its one file sits beside, not inside, a folder of the name.
    pub single_file: bool,
}

/// Opened files of a layout (`None` where one is missing).
pub type Handles = Vec<Option<File>>;

impl Layout {
    /// Lays `files` end to end.
    pub fn new(mut files: Vec<FileSpan>, piece_length: u64, single_file: bool) -> Layout {
        let mut offset = 0;
        for f in &mut files {
            f.offset = offset;
            offset += f.length;
        }
        Layout { files, piece_length, total: offset, single_file }
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u64 {
        self.total.div_ceil(self.piece_length)
    }

    /// Offset and length of piece `i`.
    pub fn piece(&self, i: u64) -> (u64, u64) {
        let start = i * self.piece_length;
        (start, self.piece_length.min(self.total - start))
    }

    /// The (file index, offset in the file, length) parts of the byte range `start..start+len`.
    pub fn segments(&self, start: u64, len: u64) -> Vec<(usize, u64, u64)> {
        let end = start + len;
        let first = self.files.partition_point(|f| f.offset + f.length <= start);
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate().skip(first) {
            if f.offset >= end {
                break;
            }
            let a = start.max(f.offset);
            let b = end.min(f.offset + f.length);
            if b > a {
                out.push((i, a - f.offset, b - a));
            }
        }
        out
    }

    /// Opens every file under `root` for reading; a missing file is `None`.
    pub fn open_read(&self, root: &Path) -> io::Result<Handles> {
        self.files
            .iter()
            .map(|f| match File::open(root.join(&f.path)) {
                Ok(h) => Ok(Some(h)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// Creates (or opens) every file under `root` for writing, at its final length.
    pub fn open_write(&self, root: &Path) -> io::Result<Vec<File>> {
        self.files
            .iter()
            .map(|f| {
                let path = root.join(&f.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let h = File::options().read(true).write(true).create(true).truncate(false).open(&path)?;
                if h.metadata()?.len() != f.length {
                    h.set_len(f.length)?;
                }
                Ok(h)
            })
            .collect()
    }

    /// Reads piece `i` into `buf`. A missing or short file is an `UnexpectedEof` error.
    pub fn read_piece(&self, handles: &Handles, i: u64, buf: &mut Vec<u8>) -> io::Result<()> {
        let (start, len) = self.piece(i);
        buf.resize(len as usize, 0);
        let mut at = 0usize;
        for (fi, off, n) in self.segments(start, len) {
            let h = handles[fi].as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "missing file"))?;
            h.read_exact_at(&mut buf[at..at + n as usize], off)?;
            at += n as usize;
        }
        Ok(())
    }

    /// Starts writing the bytes at torrent offset `start..start+len` to disk without waiting,
    /// so that the final `fsync` has little left to do (Linux `sync_file_range`; elsewhere
    /// nothing).
    pub fn start_writeback(&self, handles: &[File], start: u64, len: u64) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        for (fi, off, n) in self.segments(start, len) {
            use std::os::fd::AsRawFd;
            // SAFETY: a valid open descriptor and a plain range; the call only schedules I/O.
            let r = unsafe { libc::sync_file_range(handles[fi].as_raw_fd(), off as i64, n as i64, libc::SYNC_FILE_RANGE_WRITE) };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (handles, start, len);
        Ok(())
    }

    /// Waits until every file under `root` is on disk.
    pub fn sync_all(&self, root: &Path) -> io::Result<()> {
        for f in &self.files {
            File::open(root.join(&f.path))?.sync_all()?;
        }
        Ok(())
    }

    /// Writes `data`, the bytes at torrent offset `start`, into the files.
    pub fn write_at(&self, handles: &[File], start: u64, data: &[u8]) -> io::Result<()> {
        let mut at = 0usize;
        for (fi, off, n) in self.segments(start, data.len() as u64) {
            handles[fi].write_all_at(&data[at..at + n as usize], off)?;
            at += n as usize;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn segments_cross_files_and_skip_empty_ones() {
        let l = Layout::new(vec![FileSpan::new("a".into(), 5), FileSpan::new("e".into(), 0), FileSpan::new("b".into(), 10), FileSpan::new("c".into(), 1)], 4, false);
        assert_eq!(l.total, 16);
        assert_eq!(l.piece_count(), 4);
        assert_eq!(l.segments(4, 4), vec![(0, 4, 1), (2, 0, 3)]);
        assert_eq!(l.segments(12, 4), vec![(2, 7, 3), (3, 0, 1)]);
        assert_eq!(l.piece(3), (12, 4));
    }
}
