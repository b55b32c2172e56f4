"""`pycorpus analyze` agrees with CPython's `ast` on every feature, survives hostile files,
and parses nothing twice."""
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq

from conftest import Runner, _tar, sdist

HERE = os.path.dirname(os.path.abspath(__file__))

# One snippet per feature (valid for CPython 3.8+ unless the name says otherwise).
SNIPPETS = {
    "fstrings.py": 'name = "x"\nprint(f"{name!r:>{10}}", f"plain", "a" f"{name}")\n',
    "annotations.py": "def f(a: int, /, b: str = '', *args: int, c: float, **kw: bytes) -> None:\n    x: int = 1\n    y: str\n",
    "walrus.py": "import re\nif (m := re.match('a', 'a')) is not None:\n    print([y for x in range(3) if (y := x)])\n",
    "asyncs.py": "async def main(s):\n    async with s as c:\n        async for x in c:\n            await x\n    return [y async for y in s], {y async for y in s}\n",
    "decorators.py": "import dataclasses\nfrom dataclasses import dataclass, field\nimport functools\n\n@dataclass\nclass A:\n    x: int = 0\n\n@dataclasses.dataclass(frozen=True)\nclass B:\n    pass\n\n@functools.lru_cache()\ndef g():\n    '''Doc.'''\n    return 1\n",
    "comprehensions.py": "a = [x for x in range(3)]\nb = {x for x in a}\nc = {x: x for x in a}\nd = sum(x for x in a)\ne = lambda q, /, r=1: q\n",
    "scopes.py": "counter = 0\ndef outer():\n    global counter\n    n = 0\n    def inner():\n        nonlocal n\n        n += 1\n    return inner\n",
    "starred.py": "first, *rest = [1, 2, 3]\nprint(*rest, [*rest, *rest], {**{}})\n",
    "docstrings.py": '"""Module."""\nclass C:\n    """Class."""\n    def m(self):\n        "Method."\n        b"not a docstring"\n',
    "matching.py": "def f(p):\n    match p:\n        case [x, *_]:\n            return x\n        case _:\n            return None\n",
    "exceptstar.py": "try:\n    pass\nexcept* ValueError:\n    pass\n",
    "imports.py": "import os.path, sys as system\nfrom collections.abc import Mapping\nfrom . import sibling\nfrom .. import parent\nimport numpy.linalg\n",
    "py312_only.py": "type Alias[T] = list[T]\ndef first[T](xs: list[T]) -> T:\n    return xs[0]\nprint(f\"{'x' + \"y\"}\")\n",
    "python2.py": "print 'hello'\ntry:\n    pass\nexcept IOError, e:\n    print >>sys.stderr, e\n",
    "broken.py": "def f(:\n    pass\n",
    "latin1.py": b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n",
    "not_utf8.py": b"x = '\xff\xfe\xfd'\n",
    "deep_parens.py": "x = " + "(" * 1000 + "1" + ")" * 1000 + "\n",
    "deep_lists.py": "x = " + "[" * 1000 + "1" + "]" * 1000 + "\n",
    "deep_dicts.py": "x = " + "{1: " * 1000 + "1" + "}" * 1000 + "\n",
    # (a few more lines, or ingest skips them as minified text: >= 50 KiB in under 5 lines)
    "long_sum.py": "x = 1" + "+1" * 1_000_000 + "\n" + "#\n" * 5,
    "components.py": "x = [" + ", ".join(["1"] * 54_188) + "]\ny = a" + ".b" * 54_187 + "\n" + "#\n" * 5,
}


def build(binary, tmp_path):
    files = [("file", "feat-1.0/feat/" + name, src if isinstance(src, bytes) else src.encode()) for name, src in SNIPPETS.items()]
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "feat-1.0.tar.gz").write_bytes(_tar(sdist("feat", "1.0", files)))
    r = Runner(binary, str(tmp_path / "corpus"))
    r.run("init")
    r.run("add", str(inp), "--uploaded-on", "2024-03-04")
    r.run("seal")
    return r


def facts_by_name(r):
    rows = {}
    d = os.path.join(r.corpus, "analysis")
    for name in sorted(os.listdir(d)):
        if name.endswith(".parquet"):
            for row in pq.read_table(os.path.join(d, name)).to_pylist():
                rows[row["oid"].hex()] = row
    listing = [json.loads(l) for l in r.run("ls", "--format", "jsonl", "--ext", "py").stdout.splitlines()]
    return {os.path.basename(l["path"]): rows.get(l["hash"]) for l in listing}


def test_analyze_agrees_with_cpython_and_survives_hostile_files(binary, tmp_path):
    r = build(binary, tmp_path)
    out = json.loads(r.run("analyze", "--json").stdout)
    facts = facts_by_name(r)
    assert out["analyzed"] == len([f for f in facts.values() if f is not None]) > 0
    for name in SNIPPETS:
        assert facts.get(name) is not None, "no facts for %s" % name
    status = {name: f["status"] for name, f in facts.items() if name in SNIPPETS}
    assert status["python2.py"] == "python2" and facts["python2.py"]["print_stmts"] == 2
    assert status["broken.py"] == "syntax-error" and facts["broken.py"]["error"]
    assert status["latin1.py"] == "ok" and status["not_utf8.py"] == "not-utf8"
    assert status["py312_only.py"] == "ok" and facts["py312_only.py"]["min_version"] == "3.12"
    assert facts["py312_only.py"]["type_stmts"] == 1 and facts["py312_only.py"]["nested_quote_fstrings"] == 1
    assert facts["matching.py"]["min_version"] == "3.10" and facts["walrus.py"]["min_version"] == "3.8"
    assert status["long_sum.py"] == "limit" and status["components.py"] in ("ok", "limit")
    for name in ("deep_parens.py", "deep_lists.py", "deep_dicts.py"):
        assert status[name] in ("ok", "limit", "syntax-error"), (name, status[name])

    # CPython's ast agrees on every feature of every file both parse
    report = tmp_path / "agreement.json"
    o = subprocess.run([sys.executable, os.path.join(HERE, "ast_oracle.py"), "--bin", binary, "--corpus", r.corpus, "--json", str(report)],
                       capture_output=True, text=True)
    assert o.returncode == 0, o.stdout + o.stderr
    agreement = json.loads(report.read_text())
    assert agreement["compared"] >= 12, agreement
    assert all(v == 100.0 for v in agreement["agreement_percent"].values()), agreement
    # and the snippets exercise every feature it compares
    compared = [f for f in agreement["agreement_percent"] if f not in ("imports", "lines", "code_lines")]
    unused = [f for f in compared if not any(row and row[f] for row in facts.values())]
    assert not unused, "features no snippet uses: %s" % unused

    # nothing new: nothing parsed
    again = json.loads(r.run("analyze", "--json").stdout)
    assert again["analyzed"] == 0 and again["known"] == out["analyzed"]


def test_oracle_catches_a_wrong_count(binary, tmp_path):
    """The comparison can fail: a fact file with one count changed is reported."""
    r = build(binary, tmp_path)
    r.run("analyze")
    d = os.path.join(r.corpus, "analysis")
    [part] = [p for p in os.listdir(d) if p.endswith(".parquet")]
    t = pq.read_table(os.path.join(d, part))
    rows = t.to_pylist()
    for row in rows:
        if row["status"] == "ok" and row["lambdas"]:
            row["lambdas"] += 1
            break
    import pyarrow as pa
    pq.write_table(pa.Table.from_pylist(rows, schema=t.schema), os.path.join(d, part))
    o = subprocess.run([sys.executable, os.path.join(HERE, "ast_oracle.py"), "--bin", binary, "--corpus", r.corpus], capture_output=True, text=True)
    assert o.returncode == 1 and "DIFF" in o.stdout and "lambdas" in o.stdout, o.stdout


def test_unwritable_or_damaged_facts_give_clear_errors(binary, tmp_path):
    r = build(binary, tmp_path)
    d = os.path.join(r.corpus, "analysis")
    with open(d, "w") as f:
        f.write("not a folder")
    o = r.run("analyze", check=False)
    assert o.returncode == 1 and "analysis" in o.stderr, o.stderr
    os.remove(d)
    r.run("analyze")
    [part] = [p for p in os.listdir(d) if p.endswith(".parquet")]
    with open(os.path.join(d, part), "r+b") as f:
        f.truncate(100)
    o = r.run("analyze", check=False)
    assert o.returncode == 1 and part in o.stderr, o.stderr
    # a part left half-written by a crash is ignored
    os.remove(os.path.join(d, part))
    with open(os.path.join(d, ".facts-000009.parquet.tmp"), "wb") as f:
        f.write(b"PAR1 half")
    assert json.loads(r.run("analyze", "--json").stdout)["analyzed"] > 0
