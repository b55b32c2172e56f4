#!/usr/bin/env python3
"""Reruns the steps of bench/scale.py that read a corpus (verify .. iter_files) on a corpus it
kept (`--keep`), with the current binary: wall, CPU and peak RSS by wait4 as scale.py measures
them, and the peaks of anonymous and of file-backed resident memory (RssAnon, RssFile of
/proc/PID/status, sampled every 50 ms), which tell the heap from the mapped indexes.

    python3 bench/scale_rerun.py CORPUS RECORD.json [step,step,...]

analyze runs from scratch (CORPUS/analysis is removed first). Linux only (/proc).
"""
import json, os, shutil, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scale  # noqa: E402  (bench/scale.py, beside this script: the same step commands)
corpus, record = sys.argv[1], sys.argv[2]
only = sys.argv[3].split(",") if len(sys.argv) > 3 else None
binary = os.environ.get("PYCORPUS_BIN", os.path.join(os.path.dirname(HERE), "target", "release", "pycorpus"))
out = tempfile.mkdtemp(prefix="pycorpus-rerun-")
base = [binary, "--corpus", corpus, "--quiet"]
# the needle the generator plants with seed 1, the default
steps = [(n,) + scale.reader_step(n, base, lambda f: os.path.join(out, f), "pycorpus_scale_needle_s1", sys.executable, corpus)[:2]
         for n in scale.READER_STEPS if n != "status"]
def status_kb(pid):
    try:
        d = dict(l.split(":", 1) for l in open("/proc/%d/status" % pid))
        return int(d["RssAnon"].split()[0]), int(d["RssFile"].split()[0])
    except Exception:
        return None
res = {"corpus": corpus, "binary": binary, "commit": subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(), "steps": {}}
for name, argv, o in steps:
    if only and name not in only:
        continue
    if name == "analyze":
        shutil.rmtree(os.path.join(corpus, "analysis"), ignore_errors=True)
    if o:
        os.makedirs(os.path.dirname(o), exist_ok=True)
    stdout = open(o, "wb") if o else subprocess.DEVNULL
    t = time.perf_counter()
    # the scan's counts (--stats) go to stderr: the units of the per-row rates
    stderr = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr)
    anon = filed = 0
    while True:
        pid, st, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        s = status_kb(p.pid)
        if s:
            anon, filed = max(anon, s[0]), max(filed, s[1])
        time.sleep(0.05)
    wall = time.perf_counter() - t
    r = {"exit": os.waitstatus_to_exitcode(st), "wall_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3), "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
         "peak_anon_mb": round(anon / 1024, 1), "peak_file_mb": round(filed / 1024, 1)}
    stderr.seek(0)
    r.update(scale._scan_stats(stderr.read()))
    stderr.close()
    if o and o.endswith(".jsonl"):
        stdout.close(); r["lines"] = sum(1 for _ in open(o, "rb")); os.unlink(o)
    elif o:
        stdout.close()
        try: r["out"] = json.load(open(o))
        except Exception: pass
    if name == "export": shutil.rmtree(out + "/csn", ignore_errors=True)
    res["steps"][name] = r
    print(name, {k: v for k, v in r.items() if k != "out"}, flush=True)
    json.dump(res, open(record, "w"), indent=1)
shutil.rmtree(out, ignore_errors=True)
