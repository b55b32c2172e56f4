#!/usr/bin/env python3
"""Benchmark: `pycorpus sync --lock corpus-v1.tsv` (download + ingest) side by side with
  * the bare network limit: the same files fetched by --jobs parallel `curl` processes;
  * `pip download --no-deps` of the same files, one pip process per file in sequence (pip
    prepares sdist metadata, an isolated build, and a failing build would stop one command for
    all files); also pip in one process over the wheels alone, pip's best case.

    python3 bench/sync.py [--lock ../shared/bench/corpus-v1.tsv] [--jobs 8] [--skip-pip]

The index is the one pip uses (or PIP_INDEX_URL); this script names none. Prints the three
wall times and the ratios, and writes bench/runs/<date>-<host>/sync.json.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import runlog  # bench/runlog.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lock", default=os.path.join(ROOT, "..", "shared", "bench", "corpus-v1.tsv"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pycorpus"))
    ap.add_argument("--work", default="/tmp/pycorpus-bench-sync")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--skip-pip", action="store_true")
    ap.add_argument("--pip-timeout", type=float, default=120, help="seconds per file; pip builds some sdists whole (meson, C extensions) just to read their metadata")
    ap.add_argument("--pip-budget", type=float, default=900, help="stop pip after this many seconds: its time for the files done is a lower bound for all")
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    res = {"machine": "%s, %d cores" % (platform.node(), os.cpu_count()), "jobs": a.jobs}

    # The plan (URLs) from our own dry run, so every contender fetches exactly the same files.
    plan_corpus = os.path.join(a.work, "plan")
    subprocess.run([a.bin, "--corpus", plan_corpus, "init"], check=True, capture_output=True)
    plan = json.loads(subprocess.run([a.bin, "--corpus", plan_corpus, "sync", "--lock", a.lock, "--dry-run", "--json"], check=True, capture_output=True, text=True).stdout)
    urls = [p["url"] for p in plan["planned"]]
    res["files"], res["bytes"] = len(urls), plan["planned_bytes"]
    print("%d files, %.1f MB" % (len(urls), plan["planned_bytes"] / 1e6), flush=True)

    # 1. the network limit: parallel curl
    d = os.path.join(a.work, "curl")
    os.makedirs(d)
    t = time.time()
    p = subprocess.run(["xargs", "-P", str(a.jobs), "-n", "1", "curl", "-sSf", "--remote-name", "--output-dir", d], input="\n".join(urls), text=True, capture_output=True)
    res["curl_seconds"] = round(time.time() - t, 2)
    if p.returncode != 0:
        sys.exit("curl failed: %s" % p.stderr[:500])
    print("curl x%d:        %.1f s (%.0f MB/s)" % (a.jobs, res["curl_seconds"], res["bytes"] / 1e6 / res["curl_seconds"]), flush=True)

    # 2. ours: download and ingest together
    corpus = os.path.join(a.work, "corpus")
    subprocess.run([a.bin, "--corpus", corpus, "init"], check=True, capture_output=True)
    t = time.time()
    out = subprocess.run([a.bin, "--corpus", corpus, "--quiet", "sync", "--lock", a.lock, "--jobs", str(a.jobs), "--json"], capture_output=True, text=True)
    res["ours_seconds"] = round(time.time() - t, 2)
    s = json.loads(out.stdout)
    res["ours_added"], res["ours_failures"] = s["add"]["added"], len(s["failures"])
    print("pycorpus sync:  %.1f s (download + ingest; %d added)" % (res["ours_seconds"], res["ours_added"]), flush=True)
    res["vs_network_limit"] = round(res["curl_seconds"] / res["ours_seconds"], 3)
    print("ours vs curl:   %.0f %% of the bare network limit" % (100 * res["vs_network_limit"]), flush=True)

    # 3. pip download --no-deps, one file at a time. pip prepares metadata for every sdist (an
    # isolated build), which fails for some legacy setup.py files and would stop a single pip
    # command for all files; so each file gets its own pip process, in sequence, the way pip
    # would fetch them. pip's start-up time is measured too and reported subtracted as well,
    # so the comparison does not rest on process start-up.
    if not a.skip_pip:
        t = time.time()
        subprocess.run([sys.executable, "-m", "pip", "--version"], check=True, capture_output=True)
        res["pip_startup_seconds"] = startup = round(time.time() - t, 2)
        d = os.path.join(a.work, "pip")
        per_file = []
        t0 = time.time()
        for i, p in enumerate(plan["planned"]):
            if time.time() - t0 > a.pip_budget:
                break
            t = time.time()
            try:
                r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python", "--quiet", "--disable-pip-version-check", "-d", d, p["url"]],
                                   capture_output=True, text=True, timeout=a.pip_timeout, start_new_session=True)
                ok, err = r.returncode == 0, "" if r.returncode == 0 else (r.stderr.strip().splitlines() or ["?"])[-1][:200]
            except subprocess.TimeoutExpired as e:
                ok, err = False, "timed out after %.0f s (still building)" % a.pip_timeout
                subprocess.run(["pkill", "-f", "pip-build-env"], capture_output=True)  # its build processes
            per_file.append({"filename": p["filename"], "seconds": round(time.time() - t, 2), "ok": ok, "error": err})
            if i % 25 == 0:
                print("  pip %d/%d, %.0f s so far" % (i + 1, len(plan["planned"]), time.time() - t0), flush=True)
        res["pip_seconds"] = round(time.time() - t0, 2)
        res["pip_files_tried"] = len(per_file)
        res["pip_lower_bound"] = len(per_file) < len(plan["planned"]) or any("timed out" in f["error"] for f in per_file)
        res["pip_files_ok"] = sum(f["ok"] for f in per_file)
        res["pip_timeouts"] = sum("timed out" in f["error"] for f in per_file)
        res["pip_failed"] = [f for f in per_file if not f["ok"]]
        res["pip_seconds_minus_startup"] = round(res["pip_seconds"] - startup * len(per_file), 2)
        sd = [f["seconds"] for f in per_file if not f["filename"].endswith(".whl")]
        wh = [f["seconds"] for f in per_file if f["filename"].endswith(".whl")]
        res["pip_sdist_median_seconds"] = sorted(sd)[len(sd) // 2] if sd else None
        res["pip_wheel_median_seconds"] = sorted(wh)[len(wh) // 2] if wh else None
        res["speedup_vs_pip"] = round(res["pip_seconds"] / res["ours_seconds"], 2)
        res["speedup_vs_pip_minus_startup"] = round(res["pip_seconds_minus_startup"] / res["ours_seconds"], 2)
        print("pip download:   %.1f s for the first %d of %d files (%d fetched; %.1f s without %d start-ups of %.2f s); median %.2f s per sdist, %.2f s per wheel"
              % (res["pip_seconds"], len(per_file), len(plan["planned"]), res["pip_files_ok"], res["pip_seconds_minus_startup"], len(per_file), startup,
                 res["pip_sdist_median_seconds"] or 0, res["pip_wheel_median_seconds"] or 0), flush=True)
        print("ours vs pip:    %s%.1fx faster (%.1fx against pip without start-ups): ours fetched all %d files, pip %d in that time; %d pip run(s) cut at %.0f s"
              % ("at least " if res["pip_lower_bound"] else "", res["speedup_vs_pip"], res["speedup_vs_pip_minus_startup"], len(plan["planned"]), len(per_file), res["pip_timeouts"], a.pip_timeout), flush=True)
        res["pip_per_file"] = per_file

        # pip at its best: one process for the wheels only (no builds), against our sync of the
        # same wheels.
        wheels = [p for p in plan["planned"] if p["filename"].endswith(".whl")]
        names = {p["filename"] for p in wheels}
        lines = open(a.lock).read().splitlines()
        wlock = os.path.join(a.work, "wheels.tsv")
        fi = lines[0].split("\t").index("filename")
        open(wlock, "w").write("\n".join([lines[0]] + [l for l in lines[1:] if l.split("\t")[fi] in names]) + "\n")
        wcorpus = os.path.join(a.work, "wheels-corpus")
        subprocess.run([a.bin, "--corpus", wcorpus, "init"], check=True, capture_output=True)
        t = time.time()
        subprocess.run([a.bin, "--corpus", wcorpus, "--quiet", "sync", "--lock", wlock, "--jobs", str(a.jobs)], check=True, capture_output=True)
        res["wheels"] = {"files": len(wheels), "bytes": sum(w["size"] or 0 for w in wheels), "ours_seconds": round(time.time() - t, 2)}
        d = os.path.join(a.work, "pip-wheels")
        t = time.time()
        p = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python", "--quiet", "--disable-pip-version-check", "-d", d] + [w["url"] for w in wheels], capture_output=True, text=True)
        res["wheels"]["pip_seconds"] = round(time.time() - t, 2)
        res["wheels"]["pip_ok"] = p.returncode == 0
        res["wheels"]["speedup_vs_pip"] = round(res["wheels"]["pip_seconds"] / res["wheels"]["ours_seconds"], 2)
        print("wheels only (%d, one pip process): pip %.1f s%s, pycorpus sync %.1f s: %.2fx" % (len(wheels), res["wheels"]["pip_seconds"], "" if p.returncode == 0 else " (FAILED)", res["wheels"]["ours_seconds"], res["wheels"]["speedup_vs_pip"]), flush=True)

    runlog.save("sync", res)


if __name__ == "__main__":
    main()
