#!/usr/bin/env python3
"""Benchmark: `pycorpus grep` over the unique .py blobs of a sealed corpus-v1, side by side with
  * ripgrep over the same unique blobs extracted to disk (`pycorpus extract --ext py --unique`);
  * the seed pipeline on the git anchor of the same files:
    `git rev-list --objects --all | grep '\\.py$' | cut -d' ' -f1 | git cat-file --batch | grep`.

For each pattern (a rare literal, a common literal, a regex with classes) every contender
writes its matches to a file; the median of --repeat runs is reported, with the ratios. Our
matches are checked against ripgrep's: the same (blob, line number, line) set.

    python3 bench/grep.py [--work /tmp/pycorpus-bench] [--repeat 3]

Needs the corpus and the anchor that bench/ingest.py leaves in --work. Writes
bench/runs/<date>-<host>/grep.json.
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
PATTERNS = [
    ("rare literal", "frobnicate", True),
    ("common literal", "import os", True),
    ("regex with classes", r"def \w+\(self, \w+=None\)", False),
]


def run_timed(cmd, out_path, shell=False):
    t = time.time()
    with open(out_path, "wb") as out:
        r = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, shell=shell)
    secs = time.time() - t
    if r.returncode not in (0, 1):
        sys.exit("%s failed (%d): %s" % (cmd, r.returncode, r.stderr.decode()[-500:]))
    return secs


def ours_set(path):
    out = set()
    for line in open(path, encoding="utf-8"):
        v = json.loads(line)
        out.add((v["oid"], v["line_number"], v["text"]))
    return out


def rg_set(path):
    out = set()
    for line in open(path, encoding="utf-8"):
        v = json.loads(line)
        if v["type"] != "match":
            continue
        d = v["data"]
        oid = os.path.basename(d["path"]["text"]).split(".")[0]
        text = d["lines"].get("text")
        if text is None:  # not UTF-8: ours prints it lossily
            import base64
            text = base64.b64decode(d["lines"]["bytes"]).decode("utf-8", "replace")
        out.add((oid, d["line_number"], text))
    return out


def main():
    a = runlog.arguments(__doc__, repeat=3).parse_args()
    corpus, anchor = runlog.ingested(a.work)
    if not shutil.which("rg"):
        sys.exit("ripgrep (rg) is not installed")
    res = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()),
           "rg": subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.splitlines()[0], "patterns": []}
    tree = os.path.join(a.work, "py-unique")
    shutil.rmtree(tree, ignore_errors=True)
    t = time.time()
    subprocess.run([a.bin, "--corpus", corpus, "--quiet", "extract", tree, "--ext", "py", "--unique"], check=True, stdout=subprocess.DEVNULL)
    res["extract_seconds"] = round(time.time() - t, 2)
    files = sum(len(fs) for _, _, fs in os.walk(tree))
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(tree) for f in fs)
    res["unique_py_blobs"], res["unique_py_bytes"] = files, size
    print("extracted %d unique .py blobs (%.0f MB) in %.1f s" % (files, size / 1e6, res["extract_seconds"]), flush=True)
    outdir = os.path.join(a.work, "grep-out")
    os.makedirs(outdir, exist_ok=True)
    for label, pattern, literal in PATTERNS:
        seed_grep = "grep -F" if literal else "grep -E"
        cmds = {
            "pycorpus": ([a.bin, "--corpus", corpus, "grep", pattern, "--ext", "py"], False),
            "ripgrep": (["rg", "-uu", "-n", "--no-heading", pattern, tree], False),
            "seed": ("git -C %s rev-list --objects --all | grep '\\.py$' | cut -d' ' -f1 | git -C %s cat-file --batch | %s -e %s" % (anchor, anchor, seed_grep, shlex_quote(pattern)), True),
        }
        times = {k: [] for k in cmds}
        for _ in range(a.repeat):
            for k, (cmd, shell) in cmds.items():
                times[k].append(run_timed(cmd, os.path.join(outdir, k + ".txt"), shell=shell))
        med = {k: round(statistics.median(v), 3) for k, v in times.items()}
        lines = {k: sum(1 for _ in open(os.path.join(outdir, k + ".txt"), "rb")) for k in cmds}
        # the same matches as ripgrep
        run_timed([a.bin, "--corpus", corpus, "grep", "--json", pattern, "--ext", "py"], os.path.join(outdir, "ours.json"))
        run_timed(["rg", "-uu", "--json", pattern, tree], os.path.join(outdir, "rg.json"))
        ours, theirs = ours_set(os.path.join(outdir, "ours.json")), rg_set(os.path.join(outdir, "rg.json"))
        same = ours == theirs
        entry = {"label": label, "pattern": pattern, "seconds": med, "all_seconds": times, "output_lines": lines,
                 "vs_seed": round(med["seed"] / med["pycorpus"], 2), "vs_ripgrep": round(med["ripgrep"] / med["pycorpus"], 2),
                 "matches": len(ours), "identical_to_ripgrep": same,
                 "only_ours": sorted(ours - theirs)[:5], "only_ripgrep": sorted(theirs - ours)[:5]}
        res["patterns"].append(entry)
        print("%-20s %-32s pycorpus %.3f s | ripgrep %.3f s (%.2fx) | seed %.3f s (%.1fx) | %d matching lines, %s ripgrep's"
              % (label, pattern, med["pycorpus"], med["ripgrep"], entry["vs_ripgrep"], med["seed"], entry["vs_seed"], len(ours), "same as" if same else "DIFFERENT FROM"), flush=True)
    runlog.save("grep", res)


def shlex_quote(s):
    import shlex
    return shlex.quote(s)


if __name__ == "__main__":
    main()
