#!/usr/bin/env python3
"""Benchmark: ingest + seal of corpus-v1, side by side with the py-code.org git anchor.

Measures, in one run on this machine:
  * our `add` + `seal` wall time and peak memory, and the sealed shard's size;
  * the anchor: the same files as one git commit per distribution through `git fast-import`
    (bench/gitanchor.py), its wall time and pack size;
  * agreement of our Parquet index with an independent Python reading (tests/oracle.py);
  * `pycorpus cat OID` latency for random stored blobs of the sealed shard;
  * agreement of the dependency tables with tests/deps_oracle.py (packaging, tomllib);
  * with --baseline-bin, the same add + seal by an earlier build, alternated with ours
    (--repeat times each), as a ratio: a change's cost to ingest, measured in one run.

    python3 bench/ingest.py [--archives DIR] [--bin target/release/pycorpus] [--work DIR]
                            [--baseline-bin OLD] [--repeat N]

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
    ap.add_argument("--baseline-bin", help="an earlier build: its add + seal alternated with ours, reported as a ratio")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each binary with --baseline-bin")
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

    if a.baseline_bin:
        runs = {"ours": [res["ours"]["seconds"]], "baseline": []}
        for i in range(a.repeat * 2 - 1):
            who = "baseline" if i % 2 == 0 else "ours"
            c = os.path.join(a.work, "corpus-%s-%d" % (who, i))
            b = a.baseline_bin if who == "baseline" else a.bin
            subprocess.run([b, "--corpus", c, "init"], check=True, capture_output=True)
            s1, _, _ = timed([b, "--corpus", c, "--quiet", "add", a.archives, "--uploaded-on", "2026-01-01", "--json"], work=a.work)
            s2, _, _ = timed([b, "--corpus", c, "--quiet", "seal"], work=a.work)
            runs[who].append(round(s1 + s2, 2))
            shutil.rmtree(c)
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        res["vs_baseline"] = {"baseline_bin": a.baseline_bin, "ours_seconds": runs["ours"], "baseline_seconds": runs["baseline"],
                              "ratio": round(med(runs["ours"]) / med(runs["baseline"]), 3), "note": "add + seal, alternated, median of each"}
        print("baseline: ours %s s, baseline %s s: ratio %.3f" % (runs["ours"], runs["baseline"], res["vs_baseline"]["ratio"]), flush=True)

    t = time.time()
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "deps_oracle.py"), corpus, a.archives, "--show", "40"], capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    end = next((i for i, ln in enumerate(lines) if ln == "}"), len(lines) - 1)
    res["deps_oracle"] = dict(json.loads("\n".join(lines[:end + 1])), seconds=round(time.time() - t, 1), examples=lines[end + 1:])
    print("deps oracle: %s" % json.dumps({k: res["deps_oracle"][k] for k in ("counts", "disagreements", "by_kind")}), flush=True)

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
