#!/usr/bin/env python3
"""Benchmark (issue 24): the store and its readers as one corpus is split into more shards.

corpus-v1's distribution files, sorted by name, are added as K sealed shards (shard i gets
every K-th file from the i-th on, added, then sealed, in turn), for K = 1, 4 and 16, in
format 3 (each blob stored once per corpus, a new version of a file stored earlier as a delta
of it: the default), format 2 (stored once, no deltas) and format 1 (every shard stands alone,
as before shards-v2). One shard is the same in every format (`--formats` picks those of the
larger K). For each corpus:

  * the store: bytes on disk of shards/, blobs/ and history/ (the derived indexes), the blobs stored against
    the unique ones (the duplication factor), and the time to add and seal;
  * three readers, each with the corpus in the page cache, median of --repeat runs (wall and
    CPU): `iter_files(ext="py", unique=True)` through the Python module (the loop, as in
    bench/iter_files.py), `analyze` from scratch (analysis/ removed first, one run), and
    `grep 'import os' --ext py`.

Every ratio is against the one-shard corpus. The readers' answers are checked to be the same
in every corpus (files and bytes of iter_files, blobs analysed, lines grep prints).

    pip install . && python3 bench/shards.py [--source ~/.cache/pycorpus/corpus-v1] [--work /tmp/pycorpus-shards]

Writes bench/runs/<date>-<host>/shards.json and prints a Markdown table.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time

import runlog  # bench/runlog.py, beside this script
from iter_files import OURS as ITER  # the same timed loop as bench/iter_files.py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd, **kw):
    """Runs `cmd`; returns (wall seconds, CPU seconds, stdout)."""
    c0, t = children_cpu(), time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout
    return time.perf_counter() - t, children_cpu() - c0, out


def warm(path):
    for d, _, fs in os.walk(path):
        for f in fs:
            with open(os.path.join(d, f), "rb") as fh:
                while fh.read(1 << 24):
                    pass


def disk_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def build(binary, corpus, files, k, fmt):
    shutil.rmtree(corpus, ignore_errors=True)
    subprocess.run([binary, "--corpus", corpus, "--quiet", "init"], check=True)
    cfg = os.path.join(corpus, "corpus.toml")
    text = open(cfg).read()
    at = text.find("shard_format = ")
    assert at >= 0, "corpus.toml has no shard_format: an old binary?"
    at += len("shard_format = ")
    with open(cfg, "w") as f:
        f.write(text[:at] + str(fmt) + text[at + 1:])
    wall = cpu = 0.0
    for i in range(k):
        for cmd in (["add", *files[i::k]], ["seal"]):
            w, c, _ = run([binary, "--corpus", corpus, "--quiet", *cmd])
            wall, cpu = wall + w, cpu + c
    status = json.loads(run([binary, "--corpus", corpus, "status", "--format", "jsonl"])[2])
    return {"build_wall": round(wall, 1), "build_cpu": round(cpu, 1), "shards": len(status["shards"]),
            "stored_blobs": status["total"]["unique_blobs"], "blob_bytes": status["total"]["blob_bytes"],
            "store_bytes": sum(disk_bytes(os.path.join(corpus, d)) for d in ("shards", "blobs", "history"))}


def readers(binary, python, corpus, repeat):
    warm(os.path.join(corpus, "shards"))
    out = {}
    runs = []
    for _ in range(repeat):
        w, c, text = run([python, "-c", ITER, corpus])
        n, total, loop, loop_cpu = text.split()
        runs.append((float(loop), float(loop_cpu)))
    out["iter_files"] = {"wall": round(statistics.median(r[0] for r in runs), 3), "cpu": round(statistics.median(r[1] for r in runs), 3),
                         "answer": "%s files, %s bytes" % (n, total)}
    shutil.rmtree(os.path.join(corpus, "analysis"), ignore_errors=True)
    w, c, text = run([binary, "--corpus", corpus, "--quiet", "analyze", "--json"])
    a = json.loads(text)
    out["analyze"] = {"wall": round(w, 2), "cpu": round(c, 2), "answer": "%d blobs analysed" % a["analyzed"]}
    runs = []
    for _ in range(repeat):
        w, c, text = run([binary, "--corpus", corpus, "grep", "import os", "--ext", "py"])
        runs.append((w, c))
    out["grep"] = {"wall": round(statistics.median(r[0] for r in runs), 3), "cpu": round(statistics.median(r[1] for r in runs), 3),
                   "answer": "%d lines" % text.count("\n")}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=os.path.expanduser("~/.cache/pycorpus/corpus-v1"))
    ap.add_argument("--work", default="/tmp/pycorpus-shards")
    ap.add_argument("--bin", default=os.environ.get("PYCORPUS_BIN", os.path.join(ROOT, "target", "release", "pycorpus")))
    ap.add_argument("--python", default=sys.executable, help="interpreter with `import pycorpus` (the iter_files step)")
    ap.add_argument("--shards", default="1,4,16")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="3,2,1", help="shard formats of the corpora of more than one shard")
    ap.add_argument("--keep", action="store_true", help="keep the corpora under --work")
    a = ap.parse_args()
    files = sorted(os.path.join(a.source, f) for f in os.listdir(a.source) if not f.startswith("."))
    if not files:
        sys.exit("no distribution files in %s (fetch corpus-v1 with `pycorpus sync --lock`)" % a.source)
    os.makedirs(a.work, exist_ok=True)
    res = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()),
           "source": "%d files, %.2f GB" % (len(files), sum(os.path.getsize(f) for f in files) / 1e9), "runs": []}
    for k in [int(x) for x in a.shards.split(",")]:
        for fmt in ((3,) if k == 1 else tuple(int(f) for f in a.formats.split(","))):
            corpus = os.path.join(a.work, "k%d-f%d" % (k, fmt))
            print("== %d shard(s), format %d" % (k, fmt), flush=True)
            entry = {"shards": k, "format": fmt, **build(a.bin, corpus, files, k, fmt)}
            entry.update(readers(a.bin, a.python, corpus, a.repeat))
            res["runs"].append(entry)
            print(json.dumps(entry), flush=True)
            if not a.keep:
                shutil.rmtree(corpus)
    one = res["runs"][0]
    unique = one["stored_blobs"]
    lines = ["| shards | format | stored / unique blobs | store | vs 1 shard | iter_files (py, unique) | analyze | grep 'import os' |",
             "|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        r["duplication"] = round(r["stored_blobs"] / unique, 2)
        r["store_vs_one"] = round(r["store_bytes"] / one["store_bytes"], 3)
        cells = []
        for step in ("iter_files", "analyze", "grep"):
            r[step]["vs_one"] = round(r[step]["wall"] / one[step]["wall"], 2)
            r[step]["same_answer"] = r[step]["answer"] == one[step]["answer"]
            cells.append("%.2f s wall, %.2f s CPU (%.2fx)%s" % (r[step]["wall"], r[step]["cpu"], r[step]["vs_one"], "" if r[step]["same_answer"] else " DIFFERENT ANSWER"))
        lines.append("| %d | %d | %.2f | %.0f MB | %.3fx | %s |" % (r["shards"], r["format"], r["duplication"], r["store_bytes"] / 1e6, r["store_vs_one"], " | ".join(cells)))
    res["markdown"] = "\n".join(lines)
    print(res["markdown"])
    runlog.save("shards", res)
    if not all(r[s]["same_answer"] for r in res["runs"] for s in ("iter_files", "analyze", "grep")):
        sys.exit("readers answered differently across corpora")


if __name__ == "__main__":
    main()
