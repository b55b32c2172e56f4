#!/usr/bin/env python3
"""Benchmark: `Corpus.grep(PATTERN, ext="py")` of the Python module over corpus-v1, side by side
in one run with what a script would do without it: the CLI's `grep --json --all-paths` read
through a pipe and parsed line by line with `json.loads`; and `Corpus.grep_table`, the same
lines as a pyarrow Table. All give the same lines (checked); each runs in its own Python
process, so its peak memory (max RSS, taken when the result is in, before the check) is its
own.

    pip install . && cargo build --release && python3 bench/module_grep.py [--work /tmp/pycorpus-bench] [--repeat 3]

Needs the corpus of bench/ingest.py in --work (corpus-synced if present).
Writes bench/runs/<date>-<host>/module_grep.json.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import module_build  # bench/module_build.py, beside this script
import runlog  # bench/runlog.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

OURS = r'''
import sys, time, resource, hashlib, pycorpus
t = time.perf_counter()
hits = pycorpus.Corpus(sys.argv[1]).grep(sys.argv[2], ext="py", progress=False)
s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the check below adds its own
digest = hashlib.sha256("".join(sorted(h["oid"] + h["path"] + str(h["line_number"]) for h in hits)).encode()).hexdigest()
print(len(hits), s, peak, digest)
'''

TABLE = r'''
import sys, time, resource, hashlib, pycorpus
t = time.perf_counter()
table = pycorpus.Corpus(sys.argv[1]).grep_table(sys.argv[2], ext="py", progress=False)
s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the check below adds its own
cols = [table.column(c).to_pylist() for c in ("oid", "path", "line_number")]
digest = hashlib.sha256("".join(sorted(o + p + str(n) for o, p, n in zip(*cols))).encode()).hexdigest()
print(table.num_rows, s, peak, digest)
'''

PIPE = r'''
import sys, time, resource, hashlib, json, subprocess
t = time.perf_counter()
p = subprocess.Popen([sys.argv[3], "--corpus", sys.argv[1], "grep", "--json", "--all-paths", "--ext", "py", sys.argv[2]], stdout=subprocess.PIPE)
hits = [json.loads(l) for l in p.stdout]
p.wait()
s = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the check below adds its own
digest = hashlib.sha256("".join(sorted(h["oid"] + h["path"] + str(h["line_number"]) for h in hits)).encode()).hexdigest()
print(len(hits), s, peak, digest)
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/pycorpus-bench")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pattern", default="import")
    a = ap.parse_args()
    module = module_build.require_release()
    corpus = os.path.join(a.work, "corpus-synced")
    if not os.path.exists(corpus):
        corpus = os.path.join(a.work, "corpus")
    binary = os.path.join(ROOT, "target", "release", "pycorpus")
    times = {"module": [], "module_table": [], "cli_pipe": []}
    rss = {"module": [], "module_table": [], "cli_pipe": []}
    res = {"machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()}, "module": module, "corpus": corpus, "pattern": a.pattern}
    digests = set()
    for i in range(a.repeat):
        for key, script in (("module", OURS), ("module_table", TABLE), ("cli_pipe", PIPE)):
            out = subprocess.run([sys.executable, "-c", script, corpus, a.pattern, binary], check=True, capture_output=True, text=True).stdout.split()
            n, secs, maxrss, digest = int(out[0]), float(out[1]), int(out[2]), out[3]
            times[key].append(secs)
            rss[key].append(maxrss // 1024)
            res["lines"] = n
            digests.add(digest)
        print("run %d: module %.2f s %d MB; grep_table %.2f s %d MB; CLI + json.loads %.2f s %d MB" % (
            i + 1, times["module"][-1], rss["module"][-1], times["module_table"][-1], rss["module_table"][-1], times["cli_pipe"][-1],
            rss["cli_pipe"][-1]), file=sys.stderr, flush=True)
    assert len(digests) == 1, "they gave different matches"
    res["seconds"] = {k: {"median": round(statistics.median(v), 2), "runs": [round(x, 2) for x in v]} for k, v in times.items()}
    res["max_rss_mb"] = {k: {"median": statistics.median(v), "runs": v} for k, v in rss.items()}
    res["speedup"] = round(statistics.median(times["cli_pipe"]) / statistics.median(times["module"]), 2)
    res["memory_ratio"] = round(statistics.median(rss["cli_pipe"]) / statistics.median(rss["module"]), 2)
    res["table_vs_list"] = {"speedup": round(statistics.median(times["module"]) / statistics.median(times["module_table"]), 2),
                            "memory_ratio": round(statistics.median(rss["module"]) / statistics.median(rss["module_table"]), 2)}
    print(json.dumps(res, indent=2))
    runlog.save("module_grep", res)


if __name__ == "__main__":
    main()
