#!/usr/bin/env python3
"""Benchmark: `pycorpus secrets` over every unique blob of a sealed corpus-v1, side by side with
detect-secrets (Yelp's scanner, the one The Stack redacted with; installed from the package
index into a virtualenv in --work) over the same blobs extracted to disk
(`pycorpus extract`, one file per blob: DEST/ab/cd/<oid>.<file name>). detect-secrets runs
through bench/detect_secrets_guarded.py: its own command, except that a file it fails on is
left out and counted instead of ending the run (1.5.0 fails on one of corpus-v1's files).

Both tools get every core: ours its worker threads, detect-secrets `-c <cores>`. Ours runs
--repeat times (median reported), detect-secrets once (about 25 minutes on corpus-v1 here).
Wall time and CPU time (user + system, of the tool and its processes) are both reported: the
ratio of CPU times holds even on a machine that is not quiet. Then the
findings are compared by place: a finding is a (blob, line); each of ours is "also found" when
detect-secrets reports anything on that line of that blob, and the other way round. The tables
count unique (blob, line) places by our rule and by detect-secrets' type, with a few examples
of each side's own findings (secrets shown by their first characters only).

    python3 bench/secrets.py [--work /tmp/pycorpus-bench] [--repeat 3] [--ds-cores N]

Needs the corpus bench/ingest.py leaves in --work. Writes bench/runs/<date>-<host>/secrets.json.
"""
import collections
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import runlog  # bench/runlog.py, beside this script

DETECT_SECRETS = "detect-secrets==1.5.0"
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = 4


def children_cpu():
    """CPU seconds (user + system) of the children waited for so far."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run(cmd, **kw):
    r = subprocess.run(cmd, stderr=subprocess.PIPE, **kw)
    if r.returncode not in (0, 1):
        sys.exit("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.decode()[-800:]))
    return r


def detect_secrets(work):
    """The command that runs detect-secrets (from a virtualenv in `work`, installed on first
    use) through bench/detect_secrets_guarded.py, and its version."""
    venv = os.path.join(work, "ds-venv")
    exe = os.path.join(venv, "bin", "detect-secrets")
    if not os.path.exists(exe):
        run([sys.executable, "-m", "venv", venv])
        run([os.path.join(venv, "bin", "pip"), "install", "--quiet", DETECT_SECRETS])
    version = run([exe, "--version"], stdout=subprocess.PIPE).stdout.decode().strip()
    return [os.path.join(venv, "bin", "python"), os.path.join(HERE, "detect_secrets_guarded.py")], version


def short(secret):
    return (secret or "")[:6] + "..."


def ours_places(path):
    """{(oid, line): {rule: example record}} from our jsonl (one record per file: kept per blob)."""
    places = collections.defaultdict(dict)
    for line in open(path, encoding="utf-8"):
        v = json.loads(line)
        places[(v["oid"], v["line"])].setdefault(v["rule"], v)
    return places


def theirs_places(path, root):
    """{(oid, line): {type: file}} from detect-secrets' baseline JSON."""
    places = collections.defaultdict(dict)
    data = json.load(open(path, encoding="utf-8"))
    for file, found in data["results"].items():
        oid = os.path.basename(file).split(".")[0]
        for s in found:
            places[(oid, s["line_number"])].setdefault(s["type"], os.path.relpath(os.path.join(root, file), root))
    return places


def compare(ours, theirs):
    """Per rule (ours) and per type (theirs): places found, found by the other too, examples
    of the rest."""
    def table(mine, other, example):
        rows = {}
        for place, kinds in sorted(mine.items()):
            for kind, rec in kinds.items():
                r = rows.setdefault(kind, {"places": 0, "also_other": 0, "only_examples": []})
                r["places"] += 1
                if place in other:
                    r["also_other"] += 1
                elif len(r["only_examples"]) < EXAMPLES:
                    r["only_examples"].append(example(place, rec))
        for r in rows.values():
            r["only"] = r["places"] - r["also_other"]
        return dict(sorted(rows.items(), key=lambda kv: -kv[1]["places"]))

    ours_t = table(ours, theirs, lambda p, v: "%s:%d %s (%s)%s" % (v["path"].split("/", 3)[-1], p[1], short(v["secret"]), v["project_name"], " [%s]" % v["context"] if v["context"] else ""))
    theirs_t = table(theirs, ours, lambda p, f: "%s:%d" % (f, p[1]))
    return ours_t, theirs_t


def main():
    ap = runlog.arguments(__doc__, repeat=3)
    ap.add_argument("--ds-cores", type=int, default=os.cpu_count(), help="detect-secrets' -c (default: every core)")
    a = ap.parse_args()
    corpus, _ = runlog.ingested(a.work)
    exe, ds_version = detect_secrets(a.work)
    out_dir = os.path.join(a.work, "secrets-out")
    os.makedirs(out_dir, exist_ok=True)

    blobs = os.path.join(a.work, "all-unique")
    t = time.time()
    run([a.bin, "extract", "--corpus", corpus, "-q", blobs], stdout=subprocess.DEVNULL)
    files = sum(len(fs) for _, _, fs in os.walk(blobs))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(blobs) for f in fs)
    print("%d blobs extracted (%.2f GB) in %.1f s" % (files, size / 1e9, time.time() - t), flush=True)

    ours_out = os.path.join(out_dir, "ours.jsonl")
    ours_times, ours_cpu = [], []
    for i in range(a.repeat):
        t, c = time.time(), children_cpu()
        r = run([a.bin, "secrets", "--corpus", corpus, "--show-secrets", "--format", "jsonl", "-o", ours_out])
        ours_times.append(time.time() - t)
        ours_cpu.append(children_cpu() - c)
        print("pycorpus secrets: %.2f s, %.1f CPU s (%s)" % (ours_times[-1], ours_cpu[-1], r.stderr.decode().strip().splitlines()[-1]), flush=True)

    theirs_out = os.path.join(out_dir, "detect-secrets.json")
    print("detect-secrets -c %d scan --all-files over %d files (about 25 minutes for corpus-v1 on two cores) ..." % (a.ds_cores, files), flush=True)
    t, c = time.time(), children_cpu()
    with open(theirs_out, "wb") as f, open(theirs_out + ".stderr", "wb") as err:
        r = subprocess.run(exe + ["-c", str(a.ds_cores), "scan", "--all-files", "."], stdout=f, stderr=err, cwd=blobs)
    if r.returncode != 0:
        sys.exit("detect-secrets failed (%d): %s" % (r.returncode, open(theirs_out + ".stderr", errors="replace").read()[-3000:]))
    ds_skipped = [line.split(" ", 1)[1].strip() for line in open(theirs_out + ".stderr", errors="replace") if line.startswith("skipped ")]
    ds_time, ds_cpu = time.time() - t, children_cpu() - c
    print("detect-secrets: %.1f s, %.1f CPU s" % (ds_time, ds_cpu), flush=True)

    ours, theirs = ours_places(ours_out), theirs_places(theirs_out, blobs)
    ours_t, theirs_t = compare(ours, theirs)
    ours_med = statistics.median(ours_times)
    res = {
        "machine": {"host": platform.node(), "cpus": os.cpu_count()},
        "blobs": files,
        "bytes": size,
        "detect_secrets": ds_version,
        "ours_seconds": ours_times,
        "ours_cpu_seconds": ours_cpu,
        "detect_secrets_seconds": ds_time,
        "detect_secrets_cpu_seconds": ds_cpu,
        "detect_secrets_files_failed": ds_skipped,
        "speedup": ds_time / ours_med,
        "cpu_ratio": ds_cpu / statistics.median(ours_cpu),
        "ours_places": len(ours),
        "detect_secrets_places": len(theirs),
        "both_places": len(set(ours) & set(theirs)),
        "ours_by_rule": ours_t,
        "detect_secrets_by_type": theirs_t,
    }
    print("\npycorpus secrets %.2f s (median of %d), detect-secrets %.1f s: %.0fx (CPU time: %.0fx)" % (ours_med, a.repeat, ds_time, res["speedup"], res["cpu_ratio"]))
    print("places (blob, line): ours %d, detect-secrets %d, both %d" % (len(ours), len(theirs), res["both_places"]))
    print("files detect-secrets failed on (left out; unguarded, the first ends its run with no output): %d" % len(ds_skipped))
    for line in ds_skipped[:EXAMPLES]:
        print("  " + line)
    print()
    for title, t in (("ours, by rule", ours_t), ("detect-secrets, by type", theirs_t)):
        print("| %s | places | also found by the other | only this tool |" % title)
        print("|---|---:|---:|---:|")
        for kind, r in t.items():
            print("| %s | %d | %d | %d |" % (kind, r["places"], r["also_other"], r["only"]))
        print()
        for kind, r in t.items():
            for e in r["only_examples"]:
                print("  only %s: %s" % (kind, e))
        print()
    runlog.save("secrets", res)


if __name__ == "__main__":
    main()
