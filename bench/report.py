#!/usr/bin/env python3
"""Benchmark and check: `pycorpus report` on corpus-v1 with its real upload times.

Builds (once) a corpus of corpus-v1 with the project's own `sync --lock` (upload times come from
the lock file; the files from the index your pip uses), seals and analyses it; then times
`report --csv --parquet` (with its SVG/PNG charts) and `report --no-charts`, and opens the page in
headless Chromium with tests/report_check.py: every chart point, bar and table of the rendered
page must equal the CSV; a screenshot is saved beside the corpus.

    python3 bench/report.py [--work /tmp/pycorpus-bench] [--repeat 3]

Writes bench/runs/<date>-<host>/report.json.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from report_check import check_page  # noqa: E402
import runlog  # bench/runlog.py, beside this script


def run(cmd):
    """Runs `cmd` under GNU time; returns (seconds, peak RSS in MB, stdout)."""
    t = time.time()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr[-800:]))
    return time.time() - t, int(r.stderr.strip().splitlines()[-1]) / 1024, r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/pycorpus-bench")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pycorpus"))
    ap.add_argument("--lock", default=os.path.join(ROOT, "..", "shared", "bench", "corpus-v1.tsv"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    corpus = os.path.join(a.work, "corpus-synced")
    pc = [a.bin, "--corpus", corpus, "--quiet"]
    if not os.path.exists(os.path.join(corpus, "corpus.toml")):
        subprocess.run(pc + ["init"], check=True)
    build = {}
    for step in (["sync", "--lock", a.lock, "-j", "8"], ["seal"], ["analyze"]):
        build[step[0]] = round(run(pc + step)[0], 2)
    out = os.path.join(corpus, "report")
    full, full_rss, nocharts, nocharts_rss = [], [], [], []
    for _ in range(a.repeat):
        s, rss, _ = run(pc + ["report", "-o", os.path.join(out, "report.html"), "--csv", os.path.join(out, "tables"),
                              "--parquet", os.path.join(out, "parquet")])
        full.append(s)
        full_rss.append(rss)
        s, rss, _ = run(pc + ["report", "-o", os.path.join(a.work, "report-nocharts.html"), "--no-charts"])
        nocharts.append(s)
        nocharts_rss.append(rss)
    shot = os.path.join(a.work, "report-corpus-v1.png")
    with tempfile.TemporaryDirectory() as work:
        seen = check_page(os.path.join(out, "report.html"), os.path.join(out, "tables"), work, shot, min_units=5)
    summary = {}
    with open(os.path.join(out, "tables", "summary.csv")) as f:
        next(f)
        for line in f:
            k, v = line.rstrip("\n").rsplit(",", 1)
            summary[k.strip('"')] = v
    res = {
        "machine": {"host": platform.node(), "cpus": os.cpu_count()},
        "corpus": summary,
        "build_steps_s": build,
        "report_s": {"median": round(statistics.median(full), 3), "runs": [round(x, 3) for x in full], "peak_rss_mb": round(max(full_rss), 1)},
        "report_no_charts_s": {"median": round(statistics.median(nocharts), 3), "runs": [round(x, 3) for x in nocharts], "peak_rss_mb": round(max(nocharts_rss), 1)},
        "page_check": seen,
        "screenshot": shot,
        "html_bytes": os.path.getsize(os.path.join(out, "report.html")),
    }
    print(json.dumps(res, indent=2))
    runlog.save("report", res)


if __name__ == "__main__":
    main()
