//! Durable file writes, one way for every crate: a file is replaced whole or not at all, and
//! once a write returns, a crash (of the process or the machine) does not undo it.
#![deny(missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// A write that failed, with the file it failed on (the temporary file, the target, or the
/// folder being synced).
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    /// The file or folder.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError { path: path.to_path_buf(), source }
}

/// Writes `data` to `path`: into `.<name>.tmp` beside it, synced, renamed over `path`, and the
/// folder synced. Readers see the old contents or the new, never part; a temporary file left by
/// a crash is replaced by the next write.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), WriteError> {
    write_atomic_with(path, |w| w.write_all(data).map_err(at(path)))
}

/// [`write_atomic`] of what `write` streams (through a buffer; nothing is held whole in
/// memory). When `write` fails, its error is returned and the temporary file removed.
pub fn write_atomic_with<E: From<WriteError>>(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<(), E>) -> Result<(), E> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(at(&tmp))?);
    let written = write(&mut w).and_then(|()| {
        let f = w.into_inner().map_err(|e| at(&tmp)(e.into_error()))?;
        f.sync_all().map_err(at(&tmp))?;
        Ok(())
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    std::fs::rename(&tmp, path).map_err(at(path))?;
    Ok(sync_dir(dir)?)
}

/// Makes a rename or creation in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("a.json");
        // a temporary file left by a crash does not get in the way
        std::fs::write(d.path().join(".a.json.tmp"), b"half").expect("write");
        write_atomic(&p, b"one").expect("first");
        write_atomic(&p, b"two").expect("second");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["a.json"]);
        // files that differ only in their extension do not share a temporary file
        write_atomic(&d.path().join("a.torrent"), b"t").expect("other");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
    }

    #[test]
    fn a_failed_stream_leaves_the_old_file_and_no_temporary_one() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("lock.tsv");
        write_atomic_with::<WriteError>(&p, |w| w.write_all(b"old\n").map_err(at(&p))).expect("first");
        let e = write_atomic_with::<WriteError>(&p, |w| {
            w.write_all(b"half of the new").map_err(at(&p))?;
            Err(WriteError { path: p.clone(), source: std::io::Error::other("the source failed") })
        })
        .unwrap_err();
        assert_eq!(e.source.to_string(), "the source failed");
        assert_eq!(std::fs::read(&p).expect("read"), b"old\n");
        let names: Vec<_> = std::fs::read_dir(d.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["lock.tsv"]);
    }

    #[test]
    fn a_missing_folder_names_the_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let e = write_atomic(&d.path().join("no/such/x"), b"x").unwrap_err();
        assert!(e.path.ends_with(".x.tmp") && e.source.kind() == std::io::ErrorKind::NotFound, "{e}");
    }
}
