#!/usr/bin/env python3
"""Benchmark: `pycorpus analyze` of the unique .py blobs of a sealed corpus-v1, side by side with
  * the seed pipeline on the git anchor of the same files:
    `git rev-list --objects --all | grep '\\.py$' | cut -d' ' -f1 | git cat-file --batch |
    python3 parser.py`, parser.py calling `ast.parse` on each blob;
  * the floor: ruff's parser alone over the same blobs, already in memory, on all cores
    (`cargo run --release -p pycorpus-analyze --example parse_floor`).
Then (unless --no-oracle) CPython's `ast` checks our feature counts on every file both parse
(tests/ast_oracle.py) and the agreement per feature is printed and kept.

    python3 bench/analyze.py [--work /tmp/pycorpus-bench] [--repeat 1] [--no-oracle]

Needs the corpus and the anchor that bench/ingest.py leaves in --work, and the unique .py blobs
extracted by bench/grep.py (extracted again when missing). Writes
bench/runs/<date>-<host>/analyze.json.
"""
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import runlog  # bench/runlog.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SEED_PARSER = r'''
import ast, sys, warnings
sys.path.insert(0, %r)
from catfile import blobs
warnings.simplefilter("ignore")
ok = bad = 0
for _, data in blobs(sys.stdin.buffer):
    try:
        ast.parse(data)
        ok += 1
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        bad += 1
print(ok, bad)
''' % HERE


def timed(cmd, shell=False, env=None):
    t = time.time()
    r = subprocess.run(cmd, shell=shell, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (cmd, r.returncode, r.stderr[-800:]))
    return time.time() - t, r.stdout


def main():
    ap = runlog.arguments(__doc__, repeat=1)
    ap.add_argument("--no-oracle", action="store_true")
    a = ap.parse_args()
    corpus, anchor = runlog.ingested(a.work)
    tree = os.path.join(a.work, "py-unique")
    if not os.path.isdir(tree):
        subprocess.run([a.bin, "--corpus", corpus, "--quiet", "extract", tree, "--ext", "py", "--unique"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pycorpus-analyze", "--example", "parse_floor"], cwd=ROOT, check=True)
    floor_bin = os.path.join(ROOT, "target", "release", "examples", "parse_floor")
    res = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()), "python": sys.version.split()[0]}
    seed_cmd = ("git -C %s rev-list --objects --all | grep '\\.py$' | cut -d' ' -f1 | git -C %s cat-file --batch | %s -c %s"
                % (anchor, anchor, sys.executable, _quote(SEED_PARSER)))
    times = {"pycorpus": [], "seed": [], "floor": []}
    for i in range(a.repeat):
        shutil.rmtree(os.path.join(corpus, "analysis"), ignore_errors=True)
        secs, out = timed([a.bin, "--corpus", corpus, "analyze", "--ext", "py", "--json"])
        times["pycorpus"].append(secs)
        res["pycorpus_summary"] = {k: v for k, v in json.loads(out).items() if k in ("analyzed", "by_status")}
        secs, out = timed([floor_bin, tree])
        floor = json.loads(out)
        times["floor"].append(floor["parse_seconds"])
        res["floor"] = floor
        print("run %d: pycorpus %.2f s, floor %.2f s" % (i + 1, times["pycorpus"][-1], times["floor"][-1]), flush=True)
        secs, out = timed(seed_cmd, shell=True)
        times["seed"].append(secs)
        res["seed_ok_failed"] = out.split()
        print("run %d: seed %.1f s (ast.parse ok/failed: %s)" % (i + 1, secs, out.strip()), flush=True)
    secs, _ = timed([a.bin, "--corpus", corpus, "analyze", "--ext", "py"])
    res["rerun_seconds"] = round(secs, 3)
    med = {k: statistics.median(v) for k, v in times.items()}
    res["seconds"] = {k: round(v, 3) for k, v in med.items()}
    res["all_seconds"] = times
    res["vs_seed"] = round(med["seed"] / med["pycorpus"], 2)
    res["vs_floor"] = round(med["pycorpus"] / med["floor"], 2)
    print("analyze %.2f s | seed %.1f s (%.1fx faster) | parser alone %.2f s (we take %.2fx) | rerun with nothing new %.2f s"
          % (med["pycorpus"], med["seed"], res["vs_seed"], med["floor"], res["vs_floor"], res["rerun_seconds"]), flush=True)
    if not a.no_oracle:
        report = os.path.join(a.work, "agreement.json")
        t = time.time()
        o = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "ast_oracle.py"), "--bin", a.bin, "--corpus", corpus, "--json", report],
                           capture_output=True, text=True)
        print(o.stdout, end="")
        res["oracle"] = json.load(open(report))
        res["oracle"]["exit"] = o.returncode
        res["oracle"]["seconds"] = round(time.time() - t, 1)
        res["oracle"]["first_differences"] = [l for l in o.stdout.splitlines() if l.startswith(("DIFF", "CPYTHON-ONLY", "PYCORPUS-ONLY"))][:40]
    runlog.save("analyze", res)


def _quote(s):
    import shlex
    return shlex.quote(s)


if __name__ == "__main__":
    main()
