//! Index rows as bytes, for the rows a visit spills to disk while it waits to read their blobs
//! in storage order.

use pycorpus_catalog::{DistType, EntryType, FileRow, SkipReason};
use pycorpus_spill::codec::{Reader, put_var, put_var_bytes};
use pycorpus_store::Oid;

/// Flags of a row's first byte: what is left out because it follows from the rest.
const PATH_DERIVED: u8 = 1; // path is `packages/<project>/<release>/<archive path>`
const SHA_RAW: u8 = 2; // dist_sha256 is 64 lowercase hex digits, stored as 32 bytes
const HAS_LINES: u8 = 4;
const HAS_LINK: u8 = 8;

/// Appends `row`, compactly (a visit over many shards spills one per shard holding a blob:
/// these bytes are what its sorter compresses, sorts and reads back). Its blob id is not
/// written: the reader knows it (see [`get_row`]).
pub(crate) fn put_row(out: &mut Vec<u8>, row: &FileRow) {
    let derived = path_is_derived(row);
    let sha = hex32(&row.dist_sha256);
    let flags = (u8::from(derived) * PATH_DERIVED) | (u8::from(sha.is_some()) * SHA_RAW) | (u8::from(row.lines.is_some()) * HAS_LINES) | (u8::from(row.link_target.is_some()) * HAS_LINK);
    out.push(flags);
    for s in [&row.project_name, &row.project_version, &row.project_release, &row.archive_path] {
        put_var_bytes(out, s.as_bytes());
    }
    if !derived {
        put_var_bytes(out, row.path.as_bytes());
    }
    match sha {
        Some(b) => out.extend_from_slice(&b),
        None => put_var_bytes(out, row.dist_sha256.as_bytes()),
    }
    // zigzag: times before 1970 stay short
    put_var(out, ((row.uploaded_on << 1) ^ (row.uploaded_on >> 63)) as u64);
    put_var(out, row.size);
    put_var_bytes(out, row.skip_reason.map_or("", |r| r.as_str()).as_bytes());
    if let Some(n) = row.lines {
        put_var(out, n);
    }
    put_var(out, u64::from(row.repository));
    put_var_bytes(out, row.dist_type.as_str().as_bytes());
    put_var_bytes(out, row.entry_type.as_str().as_bytes());
    if let Some(t) = &row.link_target {
        put_var_bytes(out, t.as_bytes());
    }
}

fn path_is_derived(row: &FileRow) -> bool {
    let rest = row.path.strip_prefix("packages/").and_then(|r| r.strip_prefix(row.project_name.as_str())).and_then(|r| r.strip_prefix('/'));
    let rest = rest.and_then(|r| r.strip_prefix(row.project_release.as_str())).and_then(|r| r.strip_prefix('/'));
    rest == Some(row.archive_path.as_str())
}

/// 64 lowercase hex digits as the 32 bytes they spell (lowercase only: the bytes are written
/// back as lowercase, and the row must come back as it was).
fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn string(r: &mut Reader<'_>) -> Option<String> {
    String::from_utf8(r.var_bytes()?.to_vec()).ok()
}

/// Reads a row [`put_row`] wrote of blob `hash`; `None` when the bytes are not one (a
/// damaged spill file).
pub(crate) fn get_row(r: &mut Reader<'_>, hash: Oid) -> Option<FileRow> {
    let flags = r.u8()?;
    if flags & !(PATH_DERIVED | SHA_RAW | HAS_LINES | HAS_LINK) != 0 {
        return None;
    }
    let (project_name, project_version, project_release, archive_path) = (string(r)?, string(r)?, string(r)?, string(r)?);
    let path = match flags & PATH_DERIVED {
        0 => string(r)?,
        _ => format!("packages/{project_name}/{project_release}/{archive_path}"),
    };
    let dist_sha256 = match flags & SHA_RAW {
        0 => string(r)?,
        _ => hex::encode(r.take(32)?),
    };
    let z = r.var()?;
    let uploaded_on = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let size = r.var()?;
    let skip_reason = match string(r)? {
        s if s.is_empty() => None,
        s => Some(SkipReason::parse(&s)?),
    };
    let lines = match flags & HAS_LINES {
        0 => None,
        _ => Some(r.var()?),
    };
    let repository = u32::try_from(r.var()?).ok()?;
    let dist_type = DistType::parse(&string(r)?)?;
    let entry_type = EntryType::parse(&string(r)?)?;
    let link_target = match flags & HAS_LINK {
        0 => None,
        _ => Some(string(r)?),
    };
    Some(FileRow { project_name, project_version, project_release, uploaded_on, path, archive_path, size, hash, skip_reason, lines, repository, dist_sha256, dist_type, entry_type, link_target })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(skip: Option<SkipReason>, lines: Option<u64>, link: Option<&str>) -> FileRow {
        FileRow {
            project_name: "naïve-pkg".into(),
            project_version: "1.0.post1".into(),
            project_release: "naïve_pkg-1.0.post1-py3-none-any.whl".into(),
            uploaded_on: -12_345,
            path: "packages/naïve-pkg/naïve_pkg-1.0.post1-py3-none-any.whl/a/b.py".into(),
            archive_path: "a/b.py".into(),
            size: u64::MAX,
            hash: Oid([7; 20]),
            skip_reason: skip,
            lines,
            repository: 42,
            dist_sha256: "ab".repeat(32),
            dist_type: DistType::Wheel,
            entry_type: if link.is_some() { EntryType::Symlink } else { EntryType::File },
            link_target: link.map(String::from),
        }
    }

    #[test]
    fn rows_come_back_as_they_went_and_damage_is_refused() {
        let mut odd = row(None, Some(0), None);
        // a path that does not follow from the rest, a digest that is not lowercase hex, the
        // extremes of time
        odd.path = "packages/other/naïve_pkg-1.0.post1-py3-none-any.whl/a/b.py".into();
        odd.dist_sha256 = "AB".repeat(32);
        odd.uploaded_on = i64::MIN;
        let mut short = row(None, None, None);
        short.dist_sha256 = "abc".into();
        short.uploaded_on = i64::MAX;
        short.path = "packages/naïve-pkg/naïve_pkg-1.0.post1-py3-none-any.whl".into();
        let rows = [row(None, Some(3), None), row(Some(SkipReason::TooLarge), None, None), row(None, None, Some("../x")), odd, short];
        let mut buf = Vec::new();
        for r in &rows {
            put_row(&mut buf, r);
        }
        let mut rd = Reader(&buf);
        for r in &rows {
            assert_eq!(get_row(&mut rd, r.hash).as_ref(), Some(r));
        }
        assert!(rd.is_empty());
        // cut anywhere in the first: never a row, never a panic
        let mut one = Vec::new();
        put_row(&mut one, &rows[0]);
        for cut in 0..one.len() {
            let mut rd = Reader(&buf[..cut]);
            assert!(get_row(&mut rd, rows[0].hash).is_none(), "{cut}");
        }
        // unknown flags are damage
        let mut bad = one.clone();
        bad[0] |= 0x80;
        assert!(get_row(&mut Reader(&bad), rows[0].hash).is_none());
    }

    /// What follows from the rest is left out: a typical row takes less than its strings spell
    /// (it took 285 bytes for these 190 with fixed-width numbers and a repeated path).
    #[test]
    fn a_typical_row_is_compact() {
        let r = row(None, Some(120), None);
        let mut one = Vec::new();
        put_row(&mut one, &r);
        let strings = r.project_name.len() + r.project_version.len() + r.project_release.len() + r.path.len() + r.archive_path.len() + r.dist_sha256.len();
        assert!(one.len() <= 130 && one.len() < strings, "{} bytes for {strings} of strings", one.len());
    }
}
