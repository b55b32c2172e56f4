//! Index rows as bytes, for the rows a visit spills to disk while it waits to read their blobs
//! in storage order.

use pycorpus_catalog::{DistType, EntryType, FileRow, SkipReason};
use pycorpus_spill::codec::{put_str, put_u32, put_u64, Reader};
use pycorpus_store::Oid;

/// Appends `row`.
pub(crate) fn put_row(out: &mut Vec<u8>, row: &FileRow) {
    for s in [&row.project_name, &row.project_version, &row.project_release, &row.path, &row.archive_path, &row.dist_sha256] {
        put_str(out, s);
    }
    put_u64(out, row.uploaded_on as u64);
    put_u64(out, row.size);
    out.extend_from_slice(&row.hash.0);
    put_str(out, row.skip_reason.map_or("", |r| r.as_str()));
    put_opt_u64(out, row.lines);
    put_u32(out, row.repository);
    put_str(out, row.dist_type.as_str());
    put_str(out, row.entry_type.as_str());
    match &row.link_target {
        Some(t) => {
            out.push(1);
            put_str(out, t);
        }
        None => out.push(0),
    }
}

fn put_opt_u64(out: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => {
            out.push(1);
            put_u64(out, n);
        }
        None => out.push(0),
    }
}

/// Reads a row [`put_row`] wrote; `None` when the bytes are not one (a damaged spill file).
pub(crate) fn get_row(r: &mut Reader<'_>) -> Option<FileRow> {
    let (project_name, project_version, project_release) = (r.string()?, r.string()?, r.string()?);
    let (path, archive_path, dist_sha256) = (r.string()?, r.string()?, r.string()?);
    let uploaded_on = r.u64()? as i64;
    let size = r.u64()?;
    let hash = Oid(r.take(20)?.try_into().ok()?);
    let skip_reason = match r.string()? {
        s if s.is_empty() => None,
        s => Some(SkipReason::parse(&s)?),
    };
    let lines = match r.u8()? {
        0 => None,
        _ => Some(r.u64()?),
    };
    let repository = r.u32()?;
    let dist_type = DistType::parse(&r.string()?)?;
    let entry_type = EntryType::parse(&r.string()?)?;
    let link_target = match r.u8()? {
        0 => None,
        _ => Some(r.string()?),
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
        let rows = [row(None, Some(3), None), row(Some(SkipReason::TooLarge), None, None), row(None, None, Some("../x"))];
        let mut buf = Vec::new();
        for r in &rows {
            put_row(&mut buf, r);
        }
        let mut rd = Reader(&buf);
        for r in &rows {
            assert_eq!(get_row(&mut rd).as_ref(), Some(r));
        }
        assert!(rd.is_empty());
        // cut anywhere in the first: never a row, never a panic
        let mut one = Vec::new();
        put_row(&mut one, &rows[0]);
        for cut in 0..one.len() {
            let mut rd = Reader(&buf[..cut]);
            assert!(get_row(&mut rd).is_none(), "{cut}");
        }
    }
}
