#!/usr/bin/env python3
"""Benchmark: `pycorpus export codesearchnet` of corpus-v1, side by side with the anchor, a
Python script with the standard `ast` and `tokenize` modules that extracts the same records from
the same blobs (read with `git cat-file --batch` from the git anchor, as the seed pipelines do):
functions and methods with their docstrings, CodeSearchNet's docstring tokens, code tokens, the
same filters and exact dedup (the anchor does no near-duplicate pass: that only makes it faster).
Then it checks that two exports are byte-identical and that the functions found agree with the
anchor's on the blobs both parse.

    python3 bench/export.py [--work /tmp/pycorpus-bench] [--repeat 1]

Needs the corpus and the anchor of bench/ingest.py in --work. Writes
bench/runs/<date>-<host>/export.json.
"""
import collections
import glob
import gzip
import hashlib
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

# The anchor: blobs on stdin in `git cat-file --batch` framing, preceded by a line per blob
# "<oid> <path>" on the file named by argv[1]; prints one JSON summary line; writes records
# to argv[2] (jsonl.gz).
ANCHOR = r'''
import ast, gzip, io, json, re, sys, tokenize, warnings
sys.path.insert(0, %r)
from catfile import blobs
warnings.simplefilter("ignore")
DOC = re.compile(r"""[^\s,'"`.():\[\]=*;>{}+\-/\\]+|\\+|\.+|\(\)|\{\}|\[\]|\(+|\)+|:+|\[+|\]+|\{+|\}+|=+|\*+|;+|>+|\++|-+|/+""")
URL = re.compile(r"(?i)https?://|www\.|</?[a-z][a-z0-9]*(\s[^<>]*)?/?>")
paths = dict(l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1], encoding="utf-8", errors="surrogateescape"))
out = gzip.open(sys.argv[2], "wt")
f = sys.stdin.buffer
seen, stats = set(), {"blobs": 0, "functions": 0, "records": 0, "syntax_error": 0}
found = {}

def english(t):
    letters = [c for c in t if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) * 10 >= len(letters) * 9

def first_paragraph(d):
    return d.split("\n\n", 1)[0].rstrip()

def code_tokens(src, doc_node):
    toks = []
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER, tokenize.ENCODING}
    try:
        for t in tokenize.generate_tokens(io.StringIO(src).readline):
            if t.type in skip:
                continue
            if doc_node is not None and t.type == tokenize.STRING and t.start[0] == doc_node.lineno - doc_node.parent_start + 1:
                continue
            toks.append(t.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return toks

def functions(tree):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield node.name + "." + sub.name, sub

for oid, data in blobs(f):
    path = paths.get(oid, "")
    stats["blobs"] += 1
    try:
        text = data.decode("utf-8-sig")
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, UnicodeDecodeError):
        stats["syntax_error"] += 1
        continue
    lines = text.splitlines(keepends=True)
    names = []
    for name, fn in functions(tree):
        stats["functions"] += 1
        doc = ast.get_docstring(fn, clean=True)
        if not doc:
            continue
        names.append([name, fn.lineno, fn.end_lineno])
        short = name.rsplit(".", 1)[-1]
        inner = path.split("/", 2)[2] if path.count("/") >= 2 else path
        if "test" in name.lower() or "test" in inner.lower():
            continue
        if short.startswith("__") and short.endswith("__") and len(short) > 4:
            continue
        if fn.end_lineno - fn.lineno + 1 < 3 or URL.search(doc) or not english(doc):
            continue
        dtoks = DOC.findall(first_paragraph(doc))
        if not 3 <= len(dtoks) <= 256:
            continue
        first = lines[fn.lineno - 1]
        src = first[fn.col_offset:] + "".join(lines[fn.lineno:fn.end_lineno])
        body0 = fn.body[0]
        body0.parent_start = fn.lineno
        toks = code_tokens(src, body0 if isinstance(body0, ast.Expr) else None)
        key = tuple(toks)
        if key in seen:
            continue
        seen.add(key)
        stats["records"] += 1
        out.write(json.dumps({"repo": path.split("/")[1] if path.count("/") > 1 else "", "path": path, "func_name": name,
                              "original_string": src, "language": "python", "code": src, "code_tokens": toks,
                              "docstring": doc, "docstring_tokens": dtoks}) + "\n")
    found[oid] = names
out.close()
json.dump(found, open(sys.argv[2] + ".functions.json", "w"))
print(json.dumps(stats))
''' % HERE


def timed(cmd, shell=False):
    t = time.time()
    r = subprocess.run(cmd, shell=shell, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed (%d): %s" % (cmd, r.returncode, r.stderr[-1500:]))
    return time.time() - t, r.stdout


def tree_digest(d):
    h = hashlib.sha256()
    for p in sorted(glob.glob(os.path.join(d, "**/*"), recursive=True)):
        if os.path.isfile(p):
            h.update(os.path.relpath(p, d).encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()


def main():
    a = runlog.arguments(__doc__, repeat=1).parse_args()
    corpus, anchor = runlog.ingested(a.work)
    # the anchor's input: each unique .py blob once, with one path holding it
    listing = subprocess.run(["git", "-C", anchor, "rev-list", "--objects", "--all"], capture_output=True, text=True, errors="surrogateescape", check=True).stdout
    paths = {}
    for line in listing.splitlines():
        oid, _, path = line.partition(" ")
        if path.endswith(".py") and oid not in paths:
            paths[oid] = path
    paths_file = os.path.join(a.work, "export-anchor-paths.txt")
    with open(paths_file, "w", encoding="utf-8", errors="surrogateescape") as f:
        for oid, path in paths.items():
            f.write("%s %s\n" % (oid, path))
    oids_file = os.path.join(a.work, "export-anchor-oids.txt")
    with open(oids_file, "w") as f:
        f.write("".join(o + "\n" for o in paths))
    anchor_out = os.path.join(a.work, "export-anchor.jsonl.gz")
    anchor_cmd = "git -C %s cat-file --batch < %s | %s -c %s %s %s" % (anchor, oids_file, sys.executable, _quote(ANCHOR), paths_file, anchor_out)
    res = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()), "python": sys.version.split()[0]}
    times = {"pycorpus": [], "anchor": []}
    dests = []
    for i in range(a.repeat):
        dest = os.path.join(a.work, "csn-%d" % i)
        shutil.rmtree(dest, ignore_errors=True)
        secs, out = timed([a.bin, "--corpus", corpus, "--quiet", "export", "codesearchnet", dest, "--json"])
        times["pycorpus"].append(secs)
        res["pycorpus_summary"] = {k: v for k, v in json.loads(out).items() if k not in ("files", "dest")}
        dests.append(dest)
        secs, out = timed(anchor_cmd, shell=True)
        times["anchor"].append(secs)
        res["anchor_summary"] = json.loads(out)
        print("run %d: pycorpus %.2f s, anchor %.1f s" % (i + 1, times["pycorpus"][-1], secs), flush=True)
    # byte-identical: a second export of the same corpus
    again = os.path.join(a.work, "csn-again")
    shutil.rmtree(again, ignore_errors=True)
    timed([a.bin, "--corpus", corpus, "--quiet", "export", "codesearchnet", again])
    res["byte_identical"] = tree_digest(dests[0]) == tree_digest(again)
    # functions found: ours (every function with a docstring, filters off) against CPython's
    # ast on the same blobs, as multisets of (name, first line, last line)
    every = os.path.join(a.work, "csn-every")
    shutil.rmtree(every, ignore_errors=True)
    timed([a.bin, "--corpus", corpus, "--quiet", "export", "codesearchnet", every, "--keep-tests", "--keep-dunders", "--keep-urls",
           "--any-language", "--min-code-lines", "1", "--min-doc-tokens", "0", "--max-doc-tokens", "100000000",
           "--keep-duplicates", "--near-duplicates", "1"])
    ours = collections.Counter()
    for p in glob.glob(os.path.join(every, "python/final/jsonl/*/*.jsonl.gz")):
        for line in gzip.open(p, "rt"):
            r = json.loads(line)
            ours[(r["func_name"], r["start_line"], r["end_line"])] += 1
    theirs = collections.Counter()
    for names in json.load(open(anchor_out + ".functions.json")).values():
        for n, lo, hi in names:
            theirs[(n, lo, hi)] += 1
    both = sum((ours & theirs).values())
    res["functions_with_docstring"] = {"pycorpus": sum(ours.values()), "cpython_ast": sum(theirs.values()), "same_name_and_lines": both,
                                       "agreement_percent_of_cpython": round(100.0 * both / max(1, sum(theirs.values())), 3),
                                       "only_cpython": sum((theirs - ours).values()), "only_pycorpus": sum((ours - theirs).values())}
    print("functions with a docstring: %s" % res["functions_with_docstring"], flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    res["seconds"] = {k: round(v, 3) for k, v in med.items()}
    res["all_seconds"] = times
    res["vs_anchor"] = round(med["anchor"] / med["pycorpus"], 2)
    records = sum(1 for p in glob.glob(os.path.join(dests[0], "python/final/jsonl/*/*.jsonl.gz")) for _ in gzip.open(p))
    res["records"] = records
    # the export loads with pandas and with datasets (offline: local files only)
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import datasets
    import pandas as pd
    files = {s: sorted(glob.glob(os.path.join(dests[0], "python/final/jsonl/%s/*.jsonl.gz" % s))) for s in ("train", "valid", "test")}
    ds = datasets.load_dataset("json", data_files={k: v for k, v in files.items() if v}, cache_dir=os.path.join(a.work, "hf-cache"))
    df = pd.concat(pd.read_json(p, lines=True) for v in files.values() for p in v)
    res["loaded"] = {"datasets": {k: len(ds[k]) for k in ds}, "pandas_rows": len(df)}
    assert sum(len(ds[k]) for k in ds) == len(df) == records, res["loaded"]
    print("export %.2f s (%d records) | anchor %.1f s (%d records) | %.1fx faster | byte-identical rerun: %s"
          % (med["pycorpus"], records, med["anchor"], res["anchor_summary"]["records"], res["vs_anchor"], res["byte_identical"]), flush=True)
    runlog.save("export", res)


def _quote(s):
    import shlex
    return shlex.quote(s)


if __name__ == "__main__":
    main()
