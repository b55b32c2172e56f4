#!/usr/bin/env python3
"""Independent reading of distribution files with Python's tarfile/zipfile + hashlib.

Computes, for every file of every archive, what pycorpus's index must say (path, size, git blob
id, skip reason, lines, entry type) using only the standard library and the rules written in
docs/FORMAT.md, then compares it with the files.parquet / releases.parquet of a corpus.

    python3 tests/oracle.py CORPUS_DIR ARCHIVE_OR_DIR... [-j N]

Exit status 0 when every row agrees, 1 otherwise (the first differences are printed).
"""
import argparse
import bz2
import collections
import glob
import hashlib
import io
import lzma
import multiprocessing
import os
import sys
import tarfile
import zipfile

MAX_PY = 5 * 1024 * 1024
MAX_OTHER = 200 * 1024
LONG_MIN = 50 * 1024
MAX_RATIO = 250  # Limits::max_ratio
BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")
DIST_EXTS = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz", ".zip", ".tar", ".whl", ".egg", ".conda")


def git_oid(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\x00" % len(data))
    h.update(data)
    return h.hexdigest()


def escape_name(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


def is_control(c: str) -> bool:
    o = ord(c)
    return o < 0x20 or 0x7F <= o <= 0x9F


def normalize_path(raw: bytes):
    parts = []
    for i, comp in enumerate(raw.replace(b"\\", b"/").split(b"/")):
        if i == 0 and len(comp) == 2 and comp[1:] == b":" and comp[:1].isalpha():
            continue
        if comp in (b"", b"."):
            continue
        if comp == b"..":
            if parts:
                parts.pop()
            continue
        parts.append("".join("\\x%02x" % ord(c) if is_control(c) else c for c in escape_name(comp)))
    return "/".join(parts) if parts else None


def is_binary(data: bytes) -> bool:
    head = data[:1024]
    if any(head.startswith(b) for b in BOMS):
        return False
    return b"\x00" in head or head.startswith(b"%PDF") or head.startswith(b"\x89PNG")


def in_folder(path: str, names) -> bool:
    return any(c in names for c in path.split("/")[:-1])


def classify(path: str, data: bytes):
    if is_binary(data):
        return "binary"
    if len(data) == 0:
        return "empty"
    if data.startswith(b"__pyarmor"):
        return "binary"
    if data.startswith(b"version https://git-lfs"):
        return "version-control"
    if len(data) > (MAX_PY if path.endswith(".py") else MAX_OTHER):
        return "too-large"
    if in_folder(path, (".git", ".hg", ".svn")):
        return "version-control"
    if in_folder(path, (".venv", "venv", "site-packages")):
        return "virtualenv"
    if data.count(b"\n") < 5 and len(data) >= LONG_MIN:
        return "text-long-lines"
    return None


def lines(data: bytes):
    if is_binary(data):
        return None
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def file_row(raw_name: bytes, data: bytes):
    ap = escape_name(raw_name)
    path = normalize_path(raw_name) or "_"
    return (ap, path, len(data), git_oid(data), classify(path, data), lines(data), "file")


def link_row(raw_name: bytes, target: bytes, kind: str):
    ap = escape_name(raw_name)
    return (ap, normalize_path(raw_name) or "_", len(target), git_oid(target), kind, None, kind)


def read_tar(fileobj):
    rows = []
    with tarfile.open(fileobj=fileobj, mode="r:*") as tf:
        for m in tf:
            raw = m.name.encode("utf-8", "surrogateescape")
            if m.isfile():
                rows.append(file_row(raw, tf.extractfile(m).read()))
            elif m.issym():
                rows.append(link_row(raw, m.linkname.encode("utf-8", "surrogateescape"), "symlink"))
            elif m.islnk():
                rows.append(link_row(raw, m.linkname.encode("utf-8", "surrogateescape"), "hardlink"))
    return rows


def read_zip(fileobj, conda=False):
    rows = []
    with zipfile.ZipFile(fileobj) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename
            mode = info.external_attr >> 16
            is_link = info.create_system == 3 and mode & 0o170000 == 0o120000
            conda_part = conda and name.endswith(".tar.zst") and "/" not in name
            path = normalize_path(name.encode()) or "_"
            if not (is_link or conda_part) and info.file_size > (MAX_PY if path.endswith(".py") else MAX_OTHER) \
                    and info.file_size // max(info.compress_size, 1) > MAX_RATIO:
                # over rule 5's size and a bomb by itself: indexed from the header, never read
                rows.append((escape_name(name.encode()), path, info.file_size, "00" * 20, "too-large", None, "file"))
                continue
            data = zf.read(info)
            if conda_part:
                import zstandard  # only needed for .conda
                rows.extend(read_tar(io.BytesIO(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 34))))
                continue
            if is_link:
                rows.append(link_row(name.encode(), data, "symlink"))
            else:
                rows.append(file_row(name.encode(), data))
    return rows


def read_archive(path: str):
    """Returns (status, rows) for one distribution file."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(0)
            if head.startswith(b"PK"):
                return "ok", read_zip(f, conda=path.endswith(".conda"))
            return "ok", read_tar(f)
    except Exception as e:  # the corpus must then say "failed"
        return "failed: %s" % e, []


def inputs(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                out.extend(os.path.join(root, f) for f in files if f.lower().endswith(DIST_EXTS))
        else:
            out.append(p)
    return sorted(out)


def corpus_rows(corpus):
    import pyarrow.parquet as pq

    files = collections.defaultdict(list)
    status = {}
    for shard in sorted(glob.glob(os.path.join(corpus, "shards", "[0-9]" * 6))):
        t = pq.read_table(os.path.join(shard, "files.parquet")).to_pylist()
        for r in t:
            inner = r["path"].split("/", 3)[3]
            files[r["project_release"]].append(
                (r["archive_path"], inner, r["size"], r["hash"].hex(), r["skip_reason"], r["lines"], r["entry_type"])
            )
        for r in pq.read_table(os.path.join(shard, "releases.parquet")).to_pylist():
            status[r["project_release"]] = r["status"]
    return files, status


def key(row):
    return tuple("" if v is None else str(v) for v in row)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("archives", nargs="+")
    ap.add_argument("-j", type=int, default=os.cpu_count())
    a = ap.parse_args()
    paths = inputs(a.archives)
    with multiprocessing.Pool(a.j) as pool:
        expected = dict(zip((os.path.basename(p) for p in paths), pool.map(read_archive, paths, chunksize=1)))
    got, got_status = corpus_rows(a.corpus)
    problems = []
    nfiles = 0
    reasons = collections.Counter()
    for name, (status, rows) in sorted(expected.items()):
        if name not in got_status:
            problems.append("%s: missing from releases.parquet" % name)
            continue
        if status != "ok":
            if got_status[name] != "failed":
                problems.append("%s: Python could not read it (%s) but the corpus says %s" % (name, status, got_status[name]))
            continue
        if got_status[name] != "ok":
            problems.append("%s: the corpus says %s, Python reads it" % (name, got_status[name]))
            continue
        want = sorted(rows, key=key)
        have = sorted(got.get(name, []), key=key)
        nfiles += len(want)
        reasons.update(r[4] or "stored" for r in want)
        if want != have:
            w, h = collections.Counter(map(key, want)), collections.Counter(map(key, have))
            for r in list((w - h).elements())[:5]:
                problems.append("%s: expected %s" % (name, r))
            for r in list((h - w).elements())[:5]:
                problems.append("%s: corpus has %s" % (name, r))
    extra = set(got_status) - set(expected)
    for name in sorted(extra)[:10]:
        problems.append("%s: in the corpus but not among the inputs" % name)
    print("oracle: %d distributions, %d files compared; skip reasons %s; %d problem(s)" % (len(expected), nfiles, dict(reasons), len(problems)))
    for p in problems[:50]:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
