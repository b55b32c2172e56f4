#!/usr/bin/env python3
"""Benchmark: `Corpus.iter_files(ext="py", unique=True)` of the Python module over every unique
.py blob of corpus-v1, side by side in one run with
  * the seed: `git cat-file --batch` over the git anchor, fed the ids of its .py blobs (listed
    once beforehand by `git rev-list --objects --all | grep '\\.py$'`, not timed), read by the
    usual Python loop (header line, contents, newline);
  * the floor: zstd alone decoding, on all cores and in memory, exactly the frame prefixes that
    hold those blobs (`cargo run --release -p pycorpus-store --example decode_floor`); also
    on one core, for context;
  * the engine alone: the same selection through the visit engine under `iter_files` (index
    scan, planning, decoding, results in order) to a Rust consumer that takes each length
    (`cargo run --release -p pycorpus-visit --example visit_probe`): what is left of the
    loop's time beyond it is the hand-over to Python (rows as dicts, contents as `bytes`).
Each consumer only takes the length of each blob, and runs with its files just read into the
page cache.

CPU seconds (user + system) are recorded beside wall times: on two cores, a loop's wall time
cannot be under half its CPU time, which is how the figures below account for the gap.

Two figures for ours: the whole process (Python start, import, open, loop), compared with the
seed's whole pipeline; and the loop alone (from the `iter_files` call to the last item: index
scan, decoding, rows and bytes handed to Python), compared with the floor, which times only
its decoding.

    pip install . && python3 bench/iter_files.py [--work /tmp/pycorpus-bench] [--repeat 5]

Needs the corpus and the anchor of bench/ingest.py in --work (corpus-synced if present).
Writes bench/runs/<date>-<host>/iter_files.json.
"""
import argparse
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
import module_build  # bench/module_build.py, beside this script
import runlog  # bench/runlog.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

READER = r'''
import sys
sys.path.insert(0, %r)
from catfile import blobs
n = total = 0
for _, data in blobs(sys.stdin.buffer):
    n += 1
    total += len(data)
print(n, total)
''' % HERE

OURS = r'''
import resource, sys, time, pycorpus
c = pycorpus.Corpus(sys.argv[1])
n = total = 0
cpu = lambda: sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
t, c0 = time.perf_counter(), cpu()
for row, data in c.iter_files(ext="py", unique=True):
    n += 1
    total += len(data)
print(n, total, time.perf_counter() - t, cpu() - c0)
'''


def warm(paths):
    """Reads every file under `paths` (the page cache keeps them for the run that follows)."""
    for p in paths:
        files = [p] if os.path.isfile(p) else [os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs]
        for f in files:
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def children_cpu():
    """User + system CPU seconds of the finished child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd, shell=False, env=None):
    t = time.perf_counter()
    out = subprocess.run(cmd, shell=shell, check=True, capture_output=True, text=True, env=env).stdout
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/pycorpus-bench")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    module = module_build.require_release()
    corpus = os.path.join(a.work, "corpus-synced")
    if not os.path.exists(corpus):
        corpus = os.path.join(a.work, "corpus")
    anchor = os.path.join(a.work, "anchor.git")
    import pycorpus  # the installed module (pip install .)

    c = pycorpus.Corpus(corpus)
    oids = os.path.join(a.work, "iter-files-oids.txt")
    hashes = c.files(ext="py", unique=True, skip_reason="none").column("hash").to_pylist()
    with open(oids, "w") as f:
        f.write("".join(h.hex() + "\n" for h in hashes))
    for pkg, example in (("pycorpus-store", "decode_floor"), ("pycorpus-visit", "visit_probe")):
        subprocess.run(["cargo", "build", "--release", "-q", "-p", pkg, "--example", example], cwd=ROOT, check=True)
    floor_bin = os.path.join(ROOT, "target", "release", "examples", "decode_floor")
    engine_bin = os.path.join(ROOT, "target", "release", "examples", "visit_probe")
    shards = [s["path"] for s in c.shards() if s["kind"] == "sealed"]
    # The seed's list of blob ids (`git rev-list --objects --all | grep '\.py$'`), made once and
    # not timed: the timed part is `git cat-file --batch` and the Python reader loop.
    seed_list = os.path.join(a.work, "iter-files-seed-oids.txt")
    if not os.path.exists(seed_list):
        subprocess.run("git -C %s rev-list --objects --all | grep '\\.py$' | cut -d' ' -f1 > %s" % (anchor, seed_list), shell=True, check=True)
    seed_cmd = "git -C %s cat-file --batch < %s | %s -c %s" % (anchor, seed_list, sys.executable, shlex.quote(READER))
    times = {"ours": [], "ours_loop": [], "seed": [], "floor": [], "floor_1core": [], "engine": []}
    cpu = {"ours_loop": [], "floor": [], "engine": []}
    res = {"machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()}, "module": module, "corpus": corpus}
    # Each contender runs with its files just read into the page cache: this VM pages out files
    # idle for a few seconds (a DAMON scheme with action `pageout`), so without this whichever
    # ran after the 10 s of the seed could pay for reading its files from disk again.
    ours_files = [os.path.join(corpus, "shards"), os.path.join(corpus, "state.sqlite"), os.path.dirname(pycorpus.__file__)]
    seed_files = [os.path.join(anchor, "objects"), seed_list]
    floor_files = [floor_bin, oids] + [str(sh) for sh in shards]
    engine_files = [engine_bin, os.path.join(corpus, "shards"), os.path.join(corpus, "state.sqlite")]
    def run_floor(key, threads):
        warm(floor_files)
        floor, c0 = 0.0, children_cpu()
        for sh in shards:
            _, out = timed([floor_bin, str(sh), oids, *threads])
            f = json.loads(out)
            floor += f["seconds"]
            res["floor_blobs"], res["floor_frames"], res["floor_decoded_bytes"] = f["blobs"], f["frames"], f["decoded_bytes"]
        times[key].append(floor)
        if key == "floor":
            # The whole process (reading the id list and the pack index too): an upper bound.
            cpu["floor"].append(children_cpu() - c0)

    def run_ours():
        warm(ours_files)
        s, out = timed([sys.executable, "-c", OURS, corpus])
        times["ours"].append(s)
        blobs, nbytes, loop, loop_cpu = out.split()
        times["ours_loop"].append(float(loop))
        cpu["ours_loop"].append(float(loop_cpu))
        res["ours_blobs"], res["ours_bytes"] = int(blobs), int(nbytes)

    def run_engine():
        warm(engine_files)
        # With the module's allocator settings: mimalloc, without transparent huge pages.
        _, out = timed([engine_bin, corpus, "py"], env=dict(os.environ, MIMALLOC_ALLOW_THP="0"))
        e = json.loads(out)
        times["engine"].append(e["seconds"])
        cpu["engine"].append(e["cpu_seconds"])
        res["engine_blobs"], res["engine_bytes"] = e["blobs"], e["bytes"]

    def run_seed():
        warm(seed_files)
        s, out = timed(seed_cmd, shell=True)
        times["seed"].append(s)
        res["seed_blobs"], res["seed_bytes"] = map(int, out.split())

    for i in range(a.repeat):
        # The floor, ours and the engine one after another (seconds apart), so that each run's
        # ratios compare them on the same machine; then the rest.
        run_floor("floor", [])
        run_ours()
        run_engine()
        run_floor("floor_1core", ["1"])
        run_seed()
        print("run %d: iter_files %.2f s (loop %.2f s), seed %.2f s, floor %.2f s (one core %.2f s), engine %.2f s" % (
            i + 1, times["ours"][-1], times["ours_loop"][-1], times["seed"][-1], times["floor"][-1], times["floor_1core"][-1], times["engine"][-1]), file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    res["seconds"] = {k: {"median": round(med[k], 3), "runs": [round(x, 3) for x in v]} for k, v in times.items()}
    res["vs_seed"] = round(med["seed"] / med["ours"], 2)
    res["vs_floor"] = round(med["ours_loop"] / med["floor"], 2)
    res["vs_floor_1core"] = round(med["ours_loop"] / med["floor_1core"], 2)
    res["cpu_seconds"] = {k: {"median": round(statistics.median(v), 3), "runs": [round(x, 3) for x in v]} for k, v in cpu.items()}
    # Each run's own ratios, paired (this VM's speed drifts between runs), then their medians.
    paired = lambda a, b: round(statistics.median(x / y for x, y in zip(times[a], times[b])), 2)
    res["paired"] = {"loop_vs_floor": paired("ours_loop", "floor"), "engine_vs_floor": paired("engine", "floor"), "loop_vs_engine": paired("ours_loop", "engine")}
    print(json.dumps(res, indent=2))
    runlog.save("iter_files", res)


if __name__ == "__main__":
    main()
