#!/usr/bin/env python3
"""CPython's own `ast` as the oracle for `pycorpus analyze`.

For every Python blob of a corpus (read with `pycorpus stream --format raw`), counts each
feature with the `ast` module of the running interpreter, and compares with the facts that
`pycorpus analyze` stored under <corpus>/analysis/. Only files that CPython parses and that
pycorpus recorded as `ok` are compared (features newer than this interpreter's grammar cannot
be seen by it and are left out).

    python3 tests/ast_oracle.py --bin target/release/pycorpus --corpus CORPUS [--ext py] [--json OUT]

Prints the agreement per feature; exit status 0 when every compared file agrees on every
feature, 1 otherwise (the first differences are printed).
"""
import argparse
import ast
import collections
import json
import multiprocessing
import os
import subprocess
import sys
import warnings

import pyarrow.parquet as pq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import catfile  # noqa: E402  bench/catfile.py

COMPARED = [
    "fstrings", "annotated_params", "annotated_returns", "annotated_vars", "walrus", "match_stmts",
    "async_defs", "async_fors", "async_withs", "awaits", "async_comprehensions", "decorators",
    "dataclass_imports", "dataclass_decorators", "except_star", "type_param_lists", "type_stmts",
    "posonly_functions", "list_comps", "set_comps", "dict_comps", "generator_exps", "lambdas",
    "globals", "nonlocals", "starred", "functions", "classes", "docstrings", "tstrings",
]
# Features whose syntax this interpreter does not know: never counted by it, so not compared.
UNSEEN = {name for name, node in [("type_stmts", "TypeAlias"), ("type_param_lists", "TypeAlias"),
                                  ("tstrings", "TemplateStr"), ("match_stmts", "Match"),
                                  ("except_star", "TryStar")] if not hasattr(ast, node)}


def is_dataclass(d):
    if isinstance(d, ast.Call):
        d = d.func
    if isinstance(d, ast.Name):
        return d.id == "dataclass"
    return isinstance(d, ast.Attribute) and d.attr == "dataclass" and isinstance(d.value, ast.Name) and d.value.id == "dataclasses"


def has_docstring(body):
    return bool(body) and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)


def lines(src):
    parts = src.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    code = sum(1 for p in parts if p.lstrip(b" \t\r\x0c") and not p.lstrip(b" \t\r\x0c").startswith(b"#"))
    return len(parts), code


def facts(src):
    """The counts CPython's ast gives for `src` (bytes), or None when it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(src)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    c = collections.Counter()
    imports = set()
    c["docstrings"] += has_docstring(tree.body)
    for node in ast.walk(tree):
        t = type(node).__name__
        if t == "JoinedStr":
            c["fstrings"] += 1
        elif t == "FormattedValue":
            # a format spec is a JoinedStr too, but not an f-string of its own
            c["fstrings"] -= node.format_spec is not None
        elif t == "TemplateStr":
            c["tstrings"] += 1
        elif t in ("FunctionDef", "AsyncFunctionDef"):
            c["functions"] += 1
            c["async_defs"] += t == "AsyncFunctionDef"
            c["annotated_returns"] += node.returns is not None
            a = node.args
            c["annotated_params"] += sum(x.annotation is not None for x in a.posonlyargs + a.args + a.kwonlyargs)
            c["annotated_params"] += sum(x is not None and x.annotation is not None for x in (a.vararg, a.kwarg))
            c["posonly_functions"] += bool(a.posonlyargs)
            c["decorators"] += len(node.decorator_list)
            c["dataclass_decorators"] += sum(map(is_dataclass, node.decorator_list))
            c["docstrings"] += has_docstring(node.body)
            c["type_param_lists"] += bool(getattr(node, "type_params", None))
        elif t == "ClassDef":
            c["classes"] += 1
            c["decorators"] += len(node.decorator_list)
            c["dataclass_decorators"] += sum(map(is_dataclass, node.decorator_list))
            c["docstrings"] += has_docstring(node.body)
            c["type_param_lists"] += bool(getattr(node, "type_params", None))
        elif t == "TypeAlias":
            c["type_stmts"] += 1
            c["type_param_lists"] += bool(node.type_params)
        elif t == "Lambda":
            c["lambdas"] += 1
            c["posonly_functions"] += bool(node.args.posonlyargs)
        elif t == "comprehension":
            c["async_comprehensions"] += bool(node.is_async)
        elif t == "Import":
            for a in node.names:
                imports.add(a.name.split(".")[0])
                c["dataclass_imports"] += a.name == "dataclasses"
        elif t == "ImportFrom":
            if node.level == 0 and node.module:
                imports.add(node.module.split(".")[0])
                c["dataclass_imports"] += node.module == "dataclasses"
        else:
            simple = {"AnnAssign": "annotated_vars", "NamedExpr": "walrus", "Match": "match_stmts", "AsyncFor": "async_fors",
                      "AsyncWith": "async_withs", "Await": "awaits", "TryStar": "except_star", "ListComp": "list_comps",
                      "SetComp": "set_comps", "DictComp": "dict_comps", "GeneratorExp": "generator_exps", "Global": "globals",
                      "Nonlocal": "nonlocals", "Starred": "starred"}
            if t in simple:
                c[simple[t]] += 1
    out = {k: c[k] for k in COMPARED}
    out["imports"] = sorted(imports)
    out["lines"], out["code_lines"] = lines(src)
    return out


def oracle_item(item):
    oid, data = item
    return oid, facts(data)


def raw_blobs(binary, corpus, ext):
    """(oid, bytes) of every unique blob with extension `ext`, from `pycorpus stream --format raw`."""
    p = subprocess.Popen([binary, "--corpus", corpus, "stream", "--format", "raw", "--ext", ext, "--unique"], stdout=subprocess.PIPE)
    yield from catfile.blobs(p.stdout)
    if p.wait() != 0:
        sys.exit("pycorpus stream failed")


def ours(corpus):
    rows = {}
    d = os.path.join(corpus, "analysis")
    for name in sorted(os.listdir(d)):
        if name.startswith("facts-") and name.endswith(".parquet"):
            for r in pq.read_table(os.path.join(d, name)).to_pylist():
                rows[r["oid"].hex()] = r
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--ext", default="py")
    ap.add_argument("--json", help="write the agreement figures here")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count())
    a = ap.parse_args()
    mine = ours(a.corpus)
    features = [f for f in COMPARED if f not in UNSEEN] + ["imports", "lines", "code_lines"]
    agree = collections.Counter()
    compared, both_fail, only_cpython, only_ours, missing = 0, 0, [], [], []
    diffs = []
    with multiprocessing.Pool(a.jobs) as pool:
        results = list(pool.imap(oracle_item, raw_blobs(a.bin, a.corpus, a.ext), chunksize=16))
    for oid, o in results:
        m = mine.get(oid)
        if m is None:
            missing.append(oid)
            continue
        ok = m["status"] == "ok"
        if o is None:
            if ok:
                only_ours.append(oid)
            else:
                both_fail += 1
            continue
        if not ok:
            only_cpython.append((oid, m["status"], m["error"]))
            continue
        compared += 1
        for f in features:
            if (m[f] if f != "imports" else sorted(m[f])) == o[f]:
                agree[f] += 1
            elif len(diffs) < 20:
                diffs.append((oid, f, m[f], o[f]))
    print("python %s; %d files compared (parsed by both), %d rejected by both, %d parsed only by pycorpus, %d only by CPython, %d without facts"
          % (sys.version.split()[0], compared, both_fail, len(only_ours), len(only_cpython), len(missing)))
    for f in features:
        print("  %-22s %6.2f %%" % (f, 100.0 * agree[f] / max(compared, 1)))
    if UNSEEN:
        print("  not compared (syntax unknown to this interpreter): %s" % ", ".join(sorted(UNSEEN)))
    for d in diffs:
        print("DIFF %s %s: pycorpus %r, ast %r" % d)
    for oid, status, err in only_cpython[:10]:
        print("CPYTHON-ONLY %s: pycorpus %s (%s)" % (oid, status, err))
    for oid in only_ours[:10]:
        print("PYCORPUS-ONLY %s" % oid)
    if a.json:
        with open(a.json, "w") as out:
            json.dump({"python": sys.version.split()[0], "compared": compared, "rejected_by_both": both_fail,
                       "parsed_only_by_pycorpus": len(only_ours), "parsed_only_by_cpython": len(only_cpython),
                       "agreement_percent": {f: round(100.0 * agree[f] / max(compared, 1), 3) for f in features},
                       "not_compared": sorted(UNSEEN)}, out, indent=2)
    bad = diffs or only_cpython or missing
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
