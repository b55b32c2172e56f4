#!/usr/bin/env python3
"""Benchmark (issue 24): a corpus's store against git holding the same history, the py-code.org
way (git's deltas are what make its 502 GB).

The history: every distribution file of the corpus as one commit, in upload order, whose tree
is that distribution's stored files (`packages/<project>/<file name>/<path>`, as the index's
`path` column); the blobs are the corpus's, each written once (git's blob ids are ours). They
go through `git fast-import`, then `git repack -a -d -f --window=250 --depth=50` (every delta
searched again, as an aggressive gc does). The blobs are read from the corpus itself (the
Python module's `iter_files`), not from the archives again: the same bytes, in a fraction of
the time.

    python3 bench/gitscale.py CORPUS GIT_DIR [--window 250 --depth 50] [--label 16x]

Prints and saves (bench/runs/<date>-<host>/gitscale-<label>.json) the sizes: git's pack (and
index) after fast-import and after the repack, with their times, against the corpus's store
(shards/, blobs/ and history/, and packs alone), and the duplication factor (blobs stored / unique).
Needs git, pyarrow and the module (`pip install .`).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import runlog  # bench/runlog.py, beside this script


def dir_bytes(path, suffix=""):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs if f.endswith(suffix))


def git_bytes(git_dir):
    pack = os.path.join(git_dir, "objects", "pack")
    return {"pack": dir_bytes(pack, ".pack"), "idx": dir_bytes(pack, ".idx"), "loose": dir_bytes(os.path.join(git_dir, "objects")) - dir_bytes(pack)}


def fast_import(corpus, git_dir):
    import pyarrow.compute as pc
    import pycorpus

    c = pycorpus.Corpus(corpus)
    subprocess.run(["git", "init", "-q", "--bare", git_dir], check=True)
    fi = subprocess.Popen(["git", "--git-dir", git_dir, "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE, bufsize=1 << 20)
    out = fi.stdin
    blobs = blob_bytes = 0
    for row, data in c.iter_files(unique=True):
        out.write(b"blob\ndata %d\n" % len(data))
        out.write(data)
        out.write(b"\n")
        blobs += 1
        blob_bytes += len(data)
    print("  %d blobs (%.2f GB) written" % (blobs, blob_bytes / 1e9), flush=True)
    t = c.files(unique=False).select(["project_release", "uploaded_on", "path", "hash", "skip_reason"])
    t = t.filter(pc.is_null(t["skip_reason"]))
    t = t.sort_by([("uploaded_on", "ascending"), ("project_release", "ascending"), ("path", "ascending")])
    commits = 0
    current = None  # (release, time) of the commit being written
    for batch in t.to_batches(max_chunksize=100_000):
        cols = [batch.column(i).to_pylist() for i in (0, 1, 2, 3)]
        for release, when, path, h in zip(*cols):
            if (release, when) != current:
                if current is not None:
                    out.write(b"\n")
                current = (release, when)
                commits += 1
                msg = release.encode()
                stamp = int(when.timestamp()) if when is not None else 0
                out.write(b"commit refs/heads/main\ncommitter pycorpus-bench <bench@localhost> %d +0000\ndata %d\n%s\n" % (stamp, len(msg), msg))
                out.write(b"deleteall\n")
            p = path.encode("utf-8", "surrogateescape")
            out.write(b'M 100644 %s "%s"\n' % (h.hex().encode(), p.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")))
    if current is not None:
        out.write(b"\n")
    n = t.num_rows
    out.write(b"done\n")
    out.close()
    if fi.wait() != 0:
        sys.exit("git fast-import failed")
    return {"blobs": blobs, "blob_bytes": blob_bytes, "commits": commits, "files": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    ap.add_argument("git_dir")
    ap.add_argument("--window", type=int, default=250)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--label", default="")
    ap.add_argument("--bin", default=os.environ.get("PYCORPUS_BIN", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "pycorpus")))
    a = ap.parse_args()
    if os.path.exists(a.git_dir):
        sys.exit("%s exists: give a new folder" % a.git_dir)
    status = json.loads(subprocess.run([a.bin, "--corpus", a.corpus, "status", "--format", "jsonl"], check=True, capture_output=True, text=True).stdout)
    res = {"corpus": a.corpus, "label": a.label, "git": subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()}
    manifests = [json.load(open(os.path.join(a.corpus, "shards", d, "manifest.json"))) for d in sorted(os.listdir(os.path.join(a.corpus, "shards"))) if d.isdigit()]
    res["ours"] = {
        "shards": len(manifests),
        "formats": sorted({m["format_version"] for m in manifests}),
        "store_bytes": sum(dir_bytes(os.path.join(a.corpus, d)) for d in ("shards", "blobs", "history")),
        "pack_bytes": sum(m["pack_bytes"] for m in manifests),
        "stored_blobs": sum(m["unique_blobs"] for m in manifests),
        "unique_blobs": status["total"]["unique_blobs"],
        "blob_bytes": status["total"]["blob_bytes"],
    }
    print("ours: %s" % json.dumps(res["ours"]), flush=True)
    t = time.time()
    res["history"] = fast_import(a.corpus, a.git_dir)
    res["fast_import"] = {"seconds": round(time.time() - t, 1), **git_bytes(a.git_dir)}
    print("fast-import: %s" % json.dumps(res["fast_import"]), flush=True)
    t = time.time()
    subprocess.run(["git", "--git-dir", a.git_dir, "repack", "-a", "-d", "-f", "-q", "--window=%d" % a.window, "--depth=%d" % a.depth], check=True)
    res["repack"] = {"seconds": round(time.time() - t, 1), "window": a.window, "depth": a.depth, **git_bytes(a.git_dir)}
    print("repack: %s" % json.dumps(res["repack"]), flush=True)
    g = res["repack"]["pack"] + res["repack"]["idx"]
    res["ours_vs_git"] = round(res["ours"]["store_bytes"] / g, 3)
    res["duplication"] = round(res["ours"]["stored_blobs"] / res["ours"]["unique_blobs"], 3)
    print("store %.1f MB vs git %.1f MB (pack + idx): %.3fx; duplication %.3f" % (res["ours"]["store_bytes"] / 1e6, g / 1e6, res["ours_vs_git"], res["duplication"]))
    runlog.save("gitscale" + ("-" + a.label if a.label else ""), res)
    shutil.rmtree(a.git_dir, ignore_errors=True) if os.environ.get("GITSCALE_REMOVE") else None


if __name__ == "__main__":
    main()
