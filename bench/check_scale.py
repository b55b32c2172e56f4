#!/usr/bin/env python3
"""Independent checks of a corpus the scale benchmark built (issue 23, point 4).

Neither check shares code with pycorpus; each recomputes a result from the documented formats
(docs/FORMAT.md, README) and compares it with what the command printed:

* **export**: every shard is exported on its own with no deduplication (`--shard N
  --keep-duplicates --near-duplicates 1 --format parquet`); this script then removes exact
  duplicates (sha1 of the code tokens, each followed by a NUL; the earliest record of the
  export's order wins) and near duplicates (MinHash of the identifier-and-literal tokens, 64
  splitmix64 hashes in 16 bands of 4; a record is dropped when its Jaccard similarity with one
  of the first 64 records kept earlier in one of its buckets is at least 0.8) over the union
  of the shards, splits by sha256 of the project name, and compares the record counts per
  split with the whole-corpus export's.
* **report**: DuckDB recomputes the summary counts, the parse status of unique Python files
  and every feature's all-time share of releases, projects and unique files from
  files.parquet and the analysis facts, and compares them with the report's Parquet tables.

    python3 bench/check_scale.py --bin target/release/pycorpus --corpus RUN/32x/corpus \
        --export-summary RUN/32x/out/export.json --report-tables RUN/32x/out/report-tables

Prints a JSON verdict; exits 1 when a check disagrees.
"""
import argparse
import array
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

MASK = (1 << 64) - 1
HASHES, BANDS = 64, 16
ROWS = HASHES // BANDS
MAX_PER_BAND = 64
KEYWORDS = {"False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else", "except", "finally",
            "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield"}
SPLITS = ("train", "valid", "test")


def mix(z):
    """splitmix64's finaliser."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


SEEDS = [(i * 0x9E3779B97F4A7C15) & MASK for i in range(HASHES)]


def distinctive(t):
    return bool(t) and (t[0].isalnum() or t[0] in "_\"'") and t not in KEYWORDS


class Near:
    """MinHash band keys and near sets of token lists (numpy when present: same numbers)."""

    def __init__(self):
        self.cache = {}
        try:
            import numpy as np
            self.np = np
            self.seeds = np.array(SEEDS, dtype=np.uint64)
        except ImportError:
            self.np = None

    def token_hash(self, t):
        h = self.cache.get(t)
        if h is None:
            h = int.from_bytes(hashlib.sha1(t.encode("utf-8", "surrogatepass")).digest()[:8], "little")
            if len(self.cache) < 4_000_000:
                self.cache[t] = h
        return h

    def near_set(self, tokens):
        return sorted({self.token_hash(t) for t in tokens if distinctive(t)})

    def band_keys(self, s):
        if self.np is not None and s:
            np = self.np
            with np.errstate(over="ignore"):
                x = np.array(s, dtype=np.uint64)[None, :] ^ self.seeds[:, None]
                x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                x = x ^ (x >> np.uint64(31))
            sig = [int(v) for v in x.min(axis=1)]
        else:
            sig = [min((mix(h ^ seed) for h in s), default=MASK) for seed in SEEDS]
        keys = []
        for b in range(BANDS):
            acc = 0
            for v in sig[b * ROWS:(b + 1) * ROWS]:
                acc = mix(acc ^ v)
            keys.append(acc)
        return keys


def split_of(project, shares=(80, 10, 10)):
    x = int.from_bytes(hashlib.sha256(project.encode()).digest()[:8], "big") % 10_000
    if x < shares[0] * 100:
        return "train"
    if x < (shares[0] + shares[1]) * 100:
        return "valid"
    return "test"


def jaccard(a, b):
    both = len(a & b)
    union = len(a) + len(b) - both
    return 1.0 if union == 0 else both / union


def shard_numbers(binary, corpus):
    out = subprocess.run([binary, "--corpus", corpus, "--quiet", "status", "--format", "jsonl"], check=True, capture_output=True, text=True).stdout
    return [s["number"] for s in json.loads(out)["shards"]]


def check_export(binary, corpus, summary_path, work, log=print):
    """Per-shard exports without dedup, deduplicated here; record counts per split compared."""
    import duckdb
    full = json.load(open(summary_path))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    t0 = time.perf_counter()
    shards = shard_numbers(binary, corpus)
    for n in shards:
        dest = os.path.join(work, "shard-%06d" % n)
        subprocess.run([binary, "--corpus", corpus, "--quiet", "export", "codesearchnet", dest, "--shard", str(n), "--keep-duplicates",
                        "--near-duplicates", "1", "--format", "parquet", "--json"], check=True, capture_output=True)
    exported_s = time.perf_counter() - t0
    log("  export check: %d shards exported one at a time in %.0f s" % (len(shards), exported_s))
    files = sorted(glob.glob(os.path.join(work, "shard-*", "**", "*.parquet"), recursive=True))
    con = duckdb.connect()
    # 1. Exact duplicates: the first of each key in the export's order.
    near, candidates, groups = Near(), 0, {}
    cols = "uploaded_on, repo, distribution, path, start_line, func_name, code_tokens"
    for f in files:
        cur = con.execute("SELECT %s FROM read_parquet(?)" % cols, [f])
        while True:
            rows = cur.fetchmany(20_000)
            if not rows:
                break
            for up, repo, dist, path, line, func, tokens in rows:
                candidates += 1
                h = hashlib.sha1()
                for t in tokens:
                    h.update(t.encode("utf-8", "surrogatepass"))
                    h.update(b"\0")
                key = h.digest()
                order = (str(up), repo, dist, path, int(line), func)
                best = groups.get(key)
                if best is None or order < best[0]:
                    # the near set as packed u64s: millions of records fit in memory
                    groups[key] = (order, array.array("Q", near.near_set(tokens)).tobytes())
    survivors = sorted(groups.values(), key=lambda x: x[0])
    del groups
    log("  export check: %d candidate records, %d after exact dedup" % (candidates, len(survivors)))
    # 2. Near duplicates, bucket by bucket in the export's order, one band at a time.
    bands = array.array("Q")
    for _, packed in survivors:
        bands.extend(near.band_keys(array.array("Q", packed).tolist()))
    dropped = set()
    for band in range(BANDS):
        buckets = {}
        for i in range(len(survivors)):
            buckets.setdefault(bands[i * BANDS + band], []).append(i)
        for members in buckets.values():
            if len(members) < 2:
                continue
            earlier = []
            for i in members:
                s = set(array.array("Q", survivors[i][1]))
                if any(jaccard(s, e) >= 0.8 for e in earlier):
                    dropped.add(i)
                elif len(earlier) < MAX_PER_BAND:
                    earlier.append(s)
        del buckets
    ours = {k: 0 for k in SPLITS}
    for i, (order, _) in enumerate(survivors):
        if i not in dropped:
            ours[split_of(order[1])] += 1
    theirs = {k: int(full.get("records", {}).get(k, 0)) for k in SPLITS}
    ok = ours == theirs
    return {"ok": ok, "shards": len(shards), "candidates": candidates, "after_exact": len(survivors), "near_duplicates": len(dropped),
            "records": ours, "export_records": theirs, "export_dropped": full.get("dropped"), "seconds": round(time.perf_counter() - t0, 1)}


FEATURE_COUNTS = {
    "annotations": ["annotated_params", "annotated_returns", "annotated_vars"], "annotated_params": ["annotated_params"], "annotated_returns": ["annotated_returns"],
    "annotated_vars": ["annotated_vars"], "type_param_lists": ["type_param_lists"], "type_stmts": ["type_stmts"], "fstrings": ["fstrings"],
    "nested_quote_fstrings": ["nested_quote_fstrings"], "tstrings": ["tstrings"],
    "async": ["async_defs", "async_fors", "async_withs", "awaits", "async_comprehensions"], "async_defs": ["async_defs"], "awaits": ["awaits"],
    "async_fors": ["async_fors"], "async_withs": ["async_withs"], "async_comprehensions": ["async_comprehensions"], "walrus": ["walrus"],
    "match_stmts": ["match_stmts"], "except_star": ["except_star"], "posonly_functions": ["posonly_functions"],
    "dataclasses": ["dataclass_imports", "dataclass_decorators"], "decorators": ["decorators"], "docstrings": ["docstrings"], "lambdas": ["lambdas"],
    "list_comps": ["list_comps"], "dict_comps": ["dict_comps"], "set_comps": ["set_comps"], "generator_exps": ["generator_exps"], "starred": ["starred"],
    "globals": ["globals"], "nonlocals": ["nonlocals"],
}


def pct(part, whole):
    return 0.0 if whole == 0 else round(1000.0 * part / whole) / 10.0


def check_report(corpus, tables):
    """DuckDB over files.parquet and the facts against the report's Parquet tables."""
    import duckdb
    t0 = time.perf_counter()
    con = duckdb.connect()
    files = os.path.join(corpus, "shards", "*", "files.parquet")
    facts = os.path.join(corpus, "analysis", "facts-*.parquet")
    con.execute("CREATE VIEW rows AS SELECT project_name, project_version, project_release, path, hash, skip_reason FROM read_parquet('%s')" % files)
    con.execute("""CREATE VIEW py AS SELECT project_name AS p, project_version AS v, hash AS h FROM rows
                   WHERE skip_reason IS NULL AND regexp_matches(lower(path), '\\.pyi?$')""")
    version = con.execute("SELECT max(analyzer_version) FROM read_parquet('%s')" % facts).fetchone()[0]
    feats = ["(status IN ('ok', 'limit') AND (%s))::INT AS %s" % (" OR ".join("%s > 0" % c for c in cs), k) for k, cs in FEATURE_COUNTS.items()]
    feats.append("(status = 'python2')::INT AS python2")
    names = list(FEATURE_COUNTS) + ["python2"]
    con.execute("CREATE TABLE f AS SELECT oid, any_value(status) AS status, %s FROM (SELECT oid, status, %s FROM read_parquet('%s') WHERE analyzer_version = %d) GROUP BY oid"
                % (", ".join("max(%s) AS %s" % (n, n) for n in names), ", ".join(feats), facts, version))
    con.execute("CREATE TABLE pf AS SELECT py.p, py.v, py.h, f.* FROM py JOIN f ON f.oid = py.h")
    maxes = ", ".join("max(%s) AS %s" % (n, n) for n in names)
    sums = ", ".join("sum(%s)" % n for n in names)
    views = {
        "files": con.execute("SELECT count(*), %s FROM (SELECT h, %s FROM pf GROUP BY h)" % (sums, maxes)).fetchone(),
        "releases": con.execute("SELECT count(*), %s FROM (SELECT p, v, %s FROM pf GROUP BY p, v)" % (sums, maxes)).fetchone(),
        "projects": con.execute("SELECT count(*), %s FROM (SELECT p, %s FROM pf GROUP BY p)" % (sums, maxes)).fetchone(),
    }
    problems = []
    overall = {r[0]: r for r in con.execute("SELECT feature, releases_percent, releases, projects_percent, projects, files_percent, files FROM read_parquet('%s')"
                                             % os.path.join(tables, "features_overall.parquet")).fetchall()}
    for i, n in enumerate(names):
        got = overall.get(n)
        if got is None:
            problems.append("features_overall has no row %s" % n)
            continue
        for j, view in enumerate(("releases", "projects", "files")):
            units, with_ = views[view][0], int(views[view][1 + i] or 0)
            if (float(got[1 + 2 * j]), int(got[2 + 2 * j])) != (pct(with_, units), with_):
                problems.append("%s %s: report %s%% (%s), DuckDB %s%% (%s of %s)" % (n, view, got[1 + 2 * j], got[2 + 2 * j], pct(with_, units), with_, units))
    status = dict(con.execute("SELECT status, count(*) FROM (SELECT h, any_value(status) AS status FROM pf GROUP BY h) GROUP BY status").fetchall())
    theirs = {r[0]: (int(r[1]), float(r[2])) for r in con.execute("SELECT status, files, percent FROM read_parquet('%s')" % os.path.join(tables, "parse_status.parquet")).fetchall()}
    total = sum(status.values())
    want = {s: (n, pct(n, total)) for s, n in status.items()}
    if want != theirs:
        problems.append("parse_status: report %s, DuckDB %s" % (theirs, want))
    summary = dict(con.execute("SELECT item, value FROM read_parquet('%s')" % os.path.join(tables, "summary.parquet")).fetchall())
    py_rows = con.execute("SELECT count(*) FROM py").fetchone()[0]
    counts = {
        "projects": con.execute("SELECT count(DISTINCT project_name) FROM rows").fetchone()[0],
        "releases": con.execute("SELECT count(DISTINCT (project_name, project_version)) FROM rows").fetchone()[0],
        "releases with analysed Python files": views["releases"][0],
        "distribution files": con.execute("SELECT count(DISTINCT (project_name, project_release)) FROM rows").fetchone()[0],
        "files (rows of the index)": con.execute("SELECT count(*) FROM rows").fetchone()[0],
        "Python files (.py, .pyi)": py_rows,
        "Python files not analysed yet": py_rows - con.execute("SELECT count(*) FROM pf").fetchone()[0],
        "unique Python files": views["files"][0],
    }
    for item, n in counts.items():
        if item not in summary:
            problems.append("summary has no item %r (items: %s)" % (item, sorted(summary)))
        elif str(summary[item]) != str(n):
            problems.append("summary %s: report %s, DuckDB %s" % (item, summary[item], n))
    return {"ok": not problems, "problems": problems[:20], "features": len(names), "units": {v: views[v][0] for v in views}, "counts": counts,
            "seconds": round(time.perf_counter() - t0, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--export-summary", help="export --json output of the whole corpus")
    ap.add_argument("--report-tables", help="report --parquet folder")
    ap.add_argument("--work", default=None, help="folder for the per-shard exports (default: beside the corpus)")
    a = ap.parse_args()
    out = {}
    if a.report_tables:
        out["report"] = check_report(a.corpus, a.report_tables)
    if a.export_summary:
        work = a.work or os.path.join(os.path.dirname(os.path.abspath(a.corpus)), "export-check")
        out["export"] = check_export(a.bin, a.corpus, a.export_summary, work, log=lambda m: print(m, file=sys.stderr))
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=1))
    return 0 if all(v["ok"] for v in out.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
