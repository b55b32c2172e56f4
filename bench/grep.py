#!/usr/bin/env python3
"""Benchmark: `pycorpus grep` over the unique .py blobs of a sealed corpus-v1, side by side with
  * ripgrep over the same unique blobs extracted to disk (`pycorpus extract --ext py --unique`);
  * codesearch (Russ Cox's indexed search, Debian's `codesearch`: `cindex` over the extracted
    files, then `csearch -n`), the design zoekt and GitHub's engine grew from;
  * the seed pipeline on the git anchor of the same files:
    `git rev-list --objects --all | grep '\\.py$' | cut -d' ' -f1 | git cat-file --batch | grep`.

Ten patterns, from rare literals to common regexes, three of them case-insensitive. Every
contender writes its matches to a file; the median of --repeat runs is reported, with the
ratios. Our matches are checked against ripgrep's (the same (blob, line number, line) set),
and codesearch's against ripgrep's over the files `cindex` indexed (it leaves out files with a
line over 2,000 bytes or over 20,000 distinct trigrams: those are counted, not compared).

    python3 bench/grep.py [--work /tmp/pycorpus-bench] [--repeat 3]
    python3 bench/grep.py --corpus CORPUS --label 16x [--seed-repeat 1]

Needs the corpus and the anchor that bench/ingest.py leaves in --work (the corpus sealed by the
pycorpus under test, so that it has the search index). With --corpus, any sealed corpus instead
(the scale benchmark's, kept with `bench/scale.py --scale 16 --steps status --keep`); the seed
then runs only when --anchor names a git anchor of it (bench/gitscale.py makes one). The files
extracted for ripgrep and codesearch go to --work. Writes bench/runs/<date>-<host>/grep.json
(grep-<label>.json with --label).
"""
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import runlog  # bench/runlog.py, beside this script

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# (label, pattern, fixed string, case-insensitive)
PATTERNS = [
    ("rare literal", "frobnicate", True, False),
    ("rare literal", "TLS_RSA_WITH", True, False),
    ("rare literal, -i", "FROBNICATE", True, True),
    ("selective regex", r"asyncio\.run_coroutine_threadsafe", False, False),
    ("selective regex", r"sklearn\.ensemble", False, False),
    ("selective literal", "ProtocolError", True, False),
    ("selective literal, -i", "protocolerror", True, True),
    ("common literal", "import os", True, False),
    ("regex with classes", r"def \w+\(self, \w+=None\)", False, False),
    ("common regex, -i", r"todo|fixme", False, True),
]


def run_timed(cmd, out_path, shell=False, env=None):
    t = time.time()
    with open(out_path, "wb") as out:
        r = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, shell=shell, env=env)
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


def cs_set(path):
    """codesearch's matches as (blob, line number, line)."""
    out = set()
    for raw in open(path, "rb"):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        name, _, rest = line.partition(":")
        number, _, text = rest.partition(":")
        if not number.isdigit():
            continue
        out.add((os.path.basename(name).split(".")[0], int(number), text + "\n"))
    return out


def main():
    ap = runlog.arguments(__doc__, repeat=3)
    ap.add_argument("--corpus", default=None, help="a sealed corpus to search instead of bench/ingest.py's")
    ap.add_argument("--anchor", default=None, help="the git anchor of --corpus for the seed pipeline (default: none, no seed)")
    ap.add_argument("--label", default=None, help="names the record grep-LABEL.json")
    ap.add_argument("--seed-repeat", type=int, default=None, help="runs of the seed pipeline per pattern (default --repeat: it takes ~5 s at 1x)")
    a = ap.parse_args()
    if a.corpus:
        corpus, anchor = os.path.abspath(a.corpus), a.anchor and os.path.abspath(a.anchor)
        os.makedirs(a.work, exist_ok=True)
    else:
        corpus, anchor = runlog.ingested(a.work)
    for tool in ("rg", "cindex", "csearch"):
        if not shutil.which(tool):
            sys.exit("%s is not installed (ripgrep; Debian's codesearch)" % tool)
    res = {"corpus": corpus, "label": a.label or "corpus-v1", "machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()),
           "rg": subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
           "codesearch": subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "codesearch"], capture_output=True, text=True).stdout, "patterns": []}
    tree = os.path.join(a.work, "py-unique")
    shutil.rmtree(tree, ignore_errors=True)
    t = time.time()
    subprocess.run([a.bin, "--corpus", corpus, "--quiet", "extract", tree, "--ext", "py", "--unique"], check=True, stdout=subprocess.DEVNULL)
    res["extract_seconds"] = round(time.time() - t, 2)
    files = sum(len(fs) for _, _, fs in os.walk(tree))
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(tree) for f in fs)
    res["unique_py_blobs"], res["unique_py_bytes"] = files, size
    print("extracted %d unique .py blobs (%.0f MB) in %.1f s" % (files, size / 1e6, res["extract_seconds"]), flush=True)
    # codesearch's index of the extracted files, and what it leaves out
    env = dict(os.environ, CSEARCHINDEX=os.path.join(a.work, "csearchindex"))
    if os.path.exists(env["CSEARCHINDEX"]):
        os.remove(env["CSEARCHINDEX"])
    t = time.time()
    subprocess.run(["cindex", tree], env=env, check=True, capture_output=True)
    res["cindex_seconds"] = round(time.time() - t, 2)
    res["cindex_bytes"] = os.path.getsize(env["CSEARCHINDEX"])
    # the files it indexed: those any line of matches
    listed = subprocess.run(["csearch", "-l", "^"], env=env, capture_output=True, text=True).stdout.split()
    indexed = {os.path.basename(p).split(".")[0] for p in listed}
    skipped = {f.split(".")[0] for _, _, fs in os.walk(tree) for f in fs} - indexed
    res["cindex_skipped_files"] = len(skipped)
    shards = os.path.join(corpus, "shards")
    index_bytes = sum(os.path.getsize(os.path.join(shards, d, f)) for d in os.listdir(shards) if os.path.isdir(os.path.join(shards, d)) for f in ("postings.idx", "rows.idx") if os.path.exists(os.path.join(shards, d, f)))
    shard_bytes = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(shards) for f in fs if not f.endswith(".torrent"))
    res["ours_index_bytes"], res["ours_shard_bytes"] = index_bytes, shard_bytes
    print("cindex: %.1f s, %.1f MB (%d files left out); our postings.idx + rows.idx %.1f MB of a %.1f MB store" % (res["cindex_seconds"], res["cindex_bytes"] / 1e6, len(skipped), index_bytes / 1e6, shard_bytes / 1e6), flush=True)
    outdir = os.path.join(a.work, "grep-out")
    os.makedirs(outdir, exist_ok=True)
    for label, pattern, literal, icase in PATTERNS:
        i = ["-i"] if icase else []
        f = ["-F"] if literal else []
        seed_grep = ("grep -F" if literal else "grep -E") + (" -i" if icase else "")
        cs_pattern = re.escape(pattern) if literal else pattern  # RE2 reads Python's escapes
        cmds = {
            "pycorpus": ([a.bin, "--corpus", corpus, "grep", pattern, "--ext", "py"] + i + f, False),
            "ripgrep": (["rg", "-uu", "-n", "--no-heading", pattern, tree] + i + f, False),
            "codesearch": (["csearch", "-n"] + i + [cs_pattern], False),
        }
        if anchor:
            cmds["seed"] = ("git -C %s rev-list --objects --all | grep '\\.py$' | cut -d' ' -f1 | git -C %s cat-file --batch | %s -e %s" % (anchor, anchor, seed_grep, shlex_quote(pattern)), True)
        times = {k: [] for k in cmds}
        for r in range(a.repeat):
            for k, (cmd, shell) in cmds.items():
                if k == "seed" and a.seed_repeat is not None and r >= a.seed_repeat:
                    continue
                times[k].append(run_timed(cmd, os.path.join(outdir, k + ".txt"), shell=shell, env=env))
        med = {k: round(statistics.median(v), 3) for k, v in times.items()}
        lines = {k: sum(1 for _ in open(os.path.join(outdir, k + ".txt"), "rb")) for k in cmds}
        # the same matches as ripgrep (codesearch's: over the files it indexed)
        run_timed([a.bin, "--corpus", corpus, "grep", "--json", pattern, "--ext", "py"] + i + f, os.path.join(outdir, "ours.json"))
        run_timed(["rg", "-uu", "--json", pattern, tree] + i + f, os.path.join(outdir, "rg.json"))
        ours, theirs = ours_set(os.path.join(outdir, "ours.json")), rg_set(os.path.join(outdir, "rg.json"))
        cs = cs_set(os.path.join(outdir, "codesearch.txt"))
        theirs_indexed = {m for m in theirs if m[0] not in skipped}
        same = ours == theirs
        entry = {"label": label, "pattern": pattern, "ignore_case": icase, "fixed": literal, "seconds": med, "all_seconds": times, "output_lines": lines,
                 "vs_seed": round(med["seed"] / med["pycorpus"], 2) if "seed" in med else None, "vs_ripgrep": round(med["ripgrep"] / med["pycorpus"], 2),
                 "vs_codesearch": round(med["codesearch"] / med["pycorpus"], 2),
                 "matches": len(ours), "matching_blobs": len({m[0] for m in ours}), "identical_to_ripgrep": same,
                 "codesearch_matches": len(cs), "codesearch_identical_over_its_files": cs == theirs_indexed,
                 "only_ours": sorted(ours - theirs)[:5], "only_ripgrep": sorted(theirs - ours)[:5],
                 "only_codesearch": sorted(cs - theirs_indexed)[:3], "codesearch_missed": sorted(theirs_indexed - cs)[:3]}
        res["patterns"].append(entry)
        seed = "seed %.3f s (%.1fx)" % (med["seed"], entry["vs_seed"]) if "seed" in med else "no seed"
        print("%-22s %-34s pycorpus %.3f s | codesearch %.3f s (%.2fx) | ripgrep %.3f s (%.2fx) | %s | %d lines in %d blobs, %s ripgrep's; codesearch %s"
              % (label, pattern + (" -i" if icase else ""), med["pycorpus"], med["codesearch"], entry["vs_codesearch"], med["ripgrep"], entry["vs_ripgrep"],
                 seed, len(ours), entry["matching_blobs"], "same as" if same else "DIFFERENT FROM",
                 "same over its files" if entry["codesearch_identical_over_its_files"] else "differs (%d vs %d)" % (len(cs), len(theirs_indexed))), flush=True)
    runlog.save("grep-" + a.label if a.label else "grep", res)


def shlex_quote(s):
    import shlex
    return shlex.quote(s)


if __name__ == "__main__":
    main()
