#!/usr/bin/env python3
"""The py-code.org anchor: every distribution file as one git commit, written with
`git fast-import`, files read with tarfile/zipfile and filtered with pypi-data's skip rules.

    python3 bench/gitanchor.py ARCHIVE_DIR GIT_DIR

Prints a JSON line {"seconds": ..., "pack_bytes": ..., "commits": ...}.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import oracle  # noqa: E402  (same reading and skip rules as the oracle)


def main():
    src, git_dir = sys.argv[1], sys.argv[2]
    paths = oracle.inputs([src])
    t0 = time.time()
    subprocess.run(["git", "init", "-q", "--bare", git_dir], check=True)
    fi = subprocess.Popen(["git", "--git-dir", git_dir, "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE)
    out = fi.stdin
    mark = 0
    for p in paths:
        name = os.path.basename(p)
        status, rows = read_with_contents(p)
        if status != "ok":
            continue
        mark += 1
        msg = name.encode()
        out.write(b"commit refs/heads/main\nmark :%d\ncommitter pycorpus-bench <bench@localhost> %d +0000\ndata %d\n%s\n" % (mark, 1700000000 + mark, len(msg), msg))
        if mark > 1:
            out.write(b"from :%d\n" % (mark - 1))
        for path, data in rows:
            full = ("packages/%s/%s" % (name, path)).encode("utf-8", "surrogateescape")
            out.write(b'M 100644 inline "%s"\ndata %d\n' % (full.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n"), len(data)))
            out.write(data)
            out.write(b"\n")
    out.write(b"done\n")
    out.close()
    if fi.wait() != 0:
        sys.exit("git fast-import failed")
    seconds = time.time() - t0
    pack_dir = os.path.join(git_dir, "objects", "pack")
    pack = sum(os.path.getsize(os.path.join(pack_dir, f)) for f in os.listdir(pack_dir) if f.endswith(".pack"))
    print(json.dumps({"seconds": round(seconds, 2), "pack_bytes": pack, "commits": mark}))


def read_with_contents(path):
    """(status, [(normalised path, bytes)]) of the stored files of one distribution."""
    import io
    import tarfile
    import zipfile

    stored = []

    def keep(raw, data):
        p = oracle.normalize_path(raw) or "_"
        if oracle.classify(p, data) is None:
            stored.append((p, data))

    try:
        with open(path, "rb") as f:
            if f.read(2) == b"PK":
                with zipfile.ZipFile(path) as zf:
                    for info in zf.infolist():
                        if not info.is_dir():
                            keep(info.filename.encode(), zf.read(info))
            else:
                with tarfile.open(path, "r:*") as tf:
                    for m in tf:
                        if m.isfile():
                            keep(m.name.encode("utf-8", "surrogateescape"), tf.extractfile(m).read())
    except Exception as e:
        return "failed: %s" % e, []
    return "ok", stored


if __name__ == "__main__":
    main()
