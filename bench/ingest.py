#!/usr/bin/env python3
"""Benchmark: ingest + seal of corpus-v1, side by side with the py-code.org git anchor.

Measures, in one run on this machine:
  * our `add` + `seal` wall time and peak memory, and the sealed shard's size;
  * the anchor: the same files as one git commit per distribution through `git fast-import`
    (bench/gitanchor.py), its wall time and pack size;
  * agreement of our Parquet index with an independent Python reading (tests/oracle.py);
  * `pycorpus cat OID` latency for random stored blobs of the sealed shard.

    python3 bench/ingest.py [--archives DIR] [--bin target/release/pycorpus] [--work DIR]

Fetches corpus-v1 first if DIR is missing (../shared/bench/fetch-corpus.py). Writes the
figures to bench/runs/<date>-<host>/ingest.json and prints them.
"""
import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import runlog  # bench/runlog.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, "..", "shared", "bench")


def timed(cmd, **kw):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS bytes, stdout)."""
    stats = os.path.join(kw.pop("work"), "time.txt")
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", stats] + cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("%s failed:\n%s\n%s" % (" ".join(cmd), r.stdout, r.stderr))
    secs, kb = open(stats).read().split()[-2:]
    return float(secs), int(kb) * 1024, r.stdout


def dir_size(d):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(d) for f in fs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archives", default=os.path.expanduser("~/.cache/pycorpus/corpus-v1"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pycorpus"))
    ap.add_argument("--work", default="/tmp/pycorpus-bench")
    ap.add_argument("--skip-anchor", action="store_true", help="reuse nothing; just do not run git")
    a = ap.parse_args()
    if not os.path.isdir(a.archives) or len(os.listdir(a.archives)) < 544:
        subprocess.run([sys.executable, os.path.join(SHARED, "fetch-corpus.py"), os.path.join(SHARED, "corpus-v1.tsv"), a.archives], check=True)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    corpus = os.path.join(a.work, "corpus")
    files = sorted(os.listdir(a.archives))
    in_bytes = sum(os.path.getsize(os.path.join(a.archives, f)) for f in files)
    res = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()), "inputs": len(files), "input_bytes": in_bytes}

    subprocess.run([a.bin, "--corpus", corpus, "init"], check=True, capture_output=True)
    # Uploads at a fixed time: the shard must not depend on file modification times.
    add_s, add_rss, out = timed([a.bin, "--corpus", corpus, "--quiet", "add", a.archives, "--uploaded-on", "2026-01-01", "--json"], work=a.work)
    summary = json.loads(out)
    seal_s, seal_rss, _ = timed([a.bin, "--corpus", corpus, "--quiet", "seal"], work=a.work)
    shard = os.path.join(corpus, "shards", "000001")
    manifest = json.load(open(os.path.join(shard, "manifest.json")))
    res["ours"] = {
        "add_seconds": add_s,
        "seal_seconds": seal_s,
        "seconds": round(add_s + seal_s, 2),
        "peak_rss_bytes": max(add_rss, seal_rss),
        "shard_bytes": dir_size(shard),
        "pack_bytes": manifest["pack_bytes"],
        "files": manifest["files"],
        "unique_blobs": manifest["unique_blobs"],
        "blob_bytes": manifest["blob_bytes"],
        "original_bytes": manifest["original_bytes"],
        "failed": summary["failed"],
    }
    print("ours:   add %.1fs + seal %.1fs; shard %.1f MB; peak RSS %.0f MB" % (add_s, seal_s, res["ours"]["shard_bytes"] / 1e6, res["ours"]["peak_rss_bytes"] / 1e6), flush=True)

    if not a.skip_anchor:
        git_dir = os.path.join(a.work, "anchor.git")
        out = subprocess.run([sys.executable, os.path.join(HERE, "gitanchor.py"), a.archives, git_dir], check=True, capture_output=True, text=True).stdout
        res["anchor"] = json.loads(out)
        print("anchor: git fast-import %.1fs; pack %.1f MB" % (res["anchor"]["seconds"], res["anchor"]["pack_bytes"] / 1e6), flush=True)
        res["size_ratio"] = round(res["ours"]["shard_bytes"] / res["anchor"]["pack_bytes"], 3)
        res["speedup"] = round(res["anchor"]["seconds"] / res["ours"]["seconds"], 2)
        print("ratio:  our shard / git pack = %.3f; git time / our time = %.2fx" % (res["size_ratio"], res["speedup"]), flush=True)

    t = time.time()
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "oracle.py"), corpus, a.archives], capture_output=True, text=True)
    res["oracle"] = {"ok": r.returncode == 0, "seconds": round(time.time() - t, 1), "report": r.stdout.strip().splitlines()[:20]}
    print(r.stdout.strip(), flush=True)

    import pyarrow.parquet as pq

    hashes = [h.hex() for h, s in zip(*(pq.read_table(os.path.join(shard, "files.parquet"), columns=["hash", "skip_reason"]).to_pydict()[c] for c in ("hash", "skip_reason"))) if s is None]
    random.seed(1)
    sample = random.sample(sorted(set(hashes)), 200)
    lat = []
    for h in sample:
        t = time.perf_counter()
        subprocess.run([a.bin, "--corpus", corpus, "cat", h], check=True, stdout=subprocess.DEVNULL)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    res["cat_ms"] = {"median": round(lat[100], 2), "p99": round(lat[197], 2), "max": round(lat[-1], 2), "n": 200, "note": "whole process: spawn + open + lookup + decompress"}
    print("cat:    median %.1f ms, p99 %.1f ms, max %.1f ms over 200 random blobs (whole process)" % (lat[100], lat[197], lat[-1]))

    runlog.save("ingest", res)
    return 0 if res["oracle"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
