"""`pycorpus export codesearchnet` end to end on generated projects: every field against
hand-written expectations, each filter, exact and near dedup, the split invariant, byte-identical
reruns, the functions found against CPython's `ast` (names and line ranges), and loading with
pandas and `datasets`."""
import ast
import glob
import gzip
import hashlib
import json
import os
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import Runner, _tar, set_memory_budget

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local files only: never the hub

PKG_INFO = "Metadata-Version: 2.1\nName: {0}\nVersion: {1}\nSummary: s\nLicense: MIT\n\n"

GOOD = '''import os


@cache
def add(a, b):
    """Return the sum of two numbers.

    Longer explanation that is not in the tokens.
    """
    # add them up
    total = a + b
    return total


class Store:
    def fetch(self, key):
        """Fetch a value from the store by key."""
        value = self.data[key]
        return value

    def __repr__(self):
        """Show the store as text for debugging."""
        text = "Store()"
        return text

    def short(self):
        """Too short a body here."""

    async def load(self, url):
        """Load a page: see https://example.invalid/page for details."""
        page = await get(url)
        return page


def outer():
    """Outer function with an inner one inside."""
    def inner():
        """Inner function that is nested in outer."""
        x = 1
        return x
    return inner


def combine(first, second, weight, offset, scale):
    """Combine two values with a weight and an offset."""
    mixed = first * weight + second * (1 - weight)
    result = mixed * scale + offset
    return result


def helper(x):
    y = x + 1
    return y


def chinese():
    """返回两个数的和并打印结果"""
    x = 1
    return x


def brief():
    """Add."""
    x = 1
    return x


def test_add():
    """Check that add works for small numbers."""
    assert add(1, 2) == 3
    return None
'''

# the same function body in another project: an exact duplicate of `add`; a near duplicate
DUPS = '''def add(a, b):
    """Return the sum of two numbers, again."""
    # add them up
    total = a + b
    return total


def combine_values(first, second, weight, offset, scale):
    """Blend two values using a weight and an offset."""
    mixed = first * weight + second * (1 - weight)
    result = mixed * scale + offset + 0
    return result


def add_scaled(a, b):
    """Return the scaled sum of two numbers."""
    total = a + b * 2
    return total
'''

PROJECTS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def sdist(name, version, files):
    top = "%s-%s" % (name, version)
    entries = [("file", top + "/PKG-INFO", PKG_INFO.format(name, version).encode())]
    return _tar(entries + [("file", top + "/" + p, data.encode()) for p, data in files])


def filler(name):
    """A function only this project has (so that every split gets records)."""
    n = PROJECTS.index(name)
    return 'def only_%s(x, y):\n    """Compute a value that only %s computes here."""\n    label = "%s"\n    z = x * %d + y\n    return z, label\n' % (name, name, name, n)


@pytest.fixture(scope="module")
def corpus(binary, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    r = Runner(binary, str(tmp / "corpus"))
    r.run("init")
    inp = tmp / "in"
    inp.mkdir()
    (inp / "alpha-1.0.tar.gz").write_bytes(sdist("alpha", "1.0", [("alpha/core.py", GOOD), ("alpha/broken.py", "def f(:\n")]))
    (inp / "beta-1.0.tar.gz").write_bytes(sdist("beta", "1.0", [("beta/dups.py", DUPS)]))
    for p in PROJECTS[2:]:
        (inp / ("%s-2.0.tar.gz" % p)).write_bytes(sdist(p, "2.0", [(p + "/m.py", filler(p))]))
    r.run("add", str(inp), "--uploaded-on", "2024-03-04")
    r.run("seal")
    return r, tmp


def records(dest, fmt="jsonl"):
    out = []
    if fmt == "jsonl":
        for path in sorted(glob.glob(os.path.join(dest, "python/final/jsonl/*/*.jsonl.gz"))):
            with gzip.open(path, "rt") as f:
                out += [json.loads(line) for line in f]
    else:
        for path in sorted(glob.glob(os.path.join(dest, "python/final/parquet/*/*.parquet"))):
            out += pq.read_table(path).to_pylist()
    return out


def export(r, dest, *args):
    res = r.run("export", "codesearchnet", str(dest), "--json", *args)
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def default(corpus):
    r, tmp = corpus
    dest = tmp / "csn"
    return r, dest, export(r, dest), records(dest)


def by_name(recs):
    return {x["func_name"]: x for x in recs}


def test_fields_are_what_a_reader_expects(default):
    _, _, summary, recs = default
    add = by_name(recs)["add"]
    assert add["repo"] == "alpha" and add["path"] == "alpha-1.0/alpha/core.py" and add["language"] == "python"
    assert add["original_string"] == add["code"] == add["code_with_docstrings"]
    assert add["code"].startswith("def add(a, b):\n") and add["code"].endswith("return total")
    assert '"""Return the sum' in add["code"], "code keeps the docstring"
    assert add["docstring"] == "Return the sum of two numbers.\n\nLonger explanation that is not in the tokens."
    assert add["docstring_tokens"] == ["Return", "the", "sum", "of", "two", "numbers", "."]
    assert add["code_tokens"] == ["def", "add", "(", "a", ",", "b", ")", ":", "total", "=", "a", "+", "b", "return", "total"]
    assert add["code_tokens_ast"][:8] == add["code_tokens"][:8] and add["code_tokens_ast"][8].startswith('"""Return')
    assert add["summary"] == "Return the sum of two numbers."
    assert (add["start_line"], add["end_line"]) == (5, 12)
    assert add["url"] == "alpha/1.0/alpha-1.0/alpha/core.py#L5-L12"
    assert add["project_version"] == "1.0" and add["uploaded_on"].startswith("2024-03-04") and add["license"] == "MIT"
    assert add["distribution"] == "alpha-1.0.tar.gz" and len(add["sha"]) == 64
    fetch = by_name(recs)["Store.fetch"]
    assert fetch["code"].startswith("def fetch(self, key):") and fetch["partition"] == add["partition"]
    assert summary["files_skipped"] == {"syntax-error": 1}


def test_each_filter_drops_what_it_should(default, corpus):
    _, _, summary, recs = default
    names = set(by_name(recs))
    # dunder, too short, URL, not English, too few tokens, test, nested (not asked for)
    for gone in ("Store.__repr__", "Store.short", "Store.load", "chinese", "brief", "test_add", "outer.inner"):
        assert gone not in names, gone
    assert "outer" in names and "Store.fetch" in names
    d = summary["dropped"]
    assert (d["dunder"], d["short-code"], d["url-or-html"], d["not-english"], d["short-text"], d["test"]) == (1, 1, 1, 1, 1, 1), d
    assert d["no-text"] == 1, "helper has no docstring"
    # every filter switched off keeps them all
    r, tmp = corpus
    recs2 = records(export(r, tmp / "all", "--keep-tests", "--keep-dunders", "--keep-urls", "--any-language",
                           "--min-code-lines", "1", "--min-doc-tokens", "1", "--keep-duplicates", "--near-duplicates", "1", "--nested")["dest"])
    names2 = set(by_name(recs2))
    assert {"Store.__repr__", "Store.short", "Store.load", "chinese", "brief", "test_add", "outer.inner"} <= names2
    assert sum(1 for x in recs2 if x["func_name"] == "add") == 2, "both copies of add without dedup"
    long = records(export(r, tmp / "long", "--max-doc-tokens", "5")["dest"])
    assert "add" not in by_name(long), "7 tokens > 5"


def test_exact_and_near_duplicates_are_dropped(default):
    _, _, summary, recs = default
    adds = [x for x in recs if x["func_name"] == "add"]
    assert len(adds) == 1 and adds[0]["repo"] == "alpha", "the earlier upload wins (tie: project name)"
    assert summary["dropped"]["exact-duplicate"] == 1
    assert "add_scaled" in by_name(recs), "a different body stays"


def test_near_duplicate_threshold(corpus, default):
    r, tmp = corpus
    # combine_values shares 8 of the 11 identifiers and literals of combine (Jaccard 0.73):
    # kept at the default 0.8, dropped at 0.7
    assert "combine_values" in by_name(default[3])
    s = export(r, tmp / "near", "--near-duplicates", "0.7")
    assert s["dropped"]["near-duplicate"] == 1
    names = by_name(records(tmp / "near"))
    assert "combine_values" not in names and "combine" in names and "add_scaled" in names


def test_split_by_project_and_byte_identical_reruns(default, corpus):
    r, tmp = corpus
    _, dest, summary, recs = default
    part = {}
    for x in recs:
        assert part.setdefault(x["repo"], x["partition"]) == x["partition"], "one project, one split"
    assert set(part.values()) <= {"train", "valid", "test"}
    assert sum(summary["records"].values()) == len(recs)
    again = tmp / "csn-again"
    export(r, again)
    files = sorted(os.path.relpath(p, dest) for p in glob.glob(os.path.join(dest, "**/*"), recursive=True) if os.path.isfile(p))
    files2 = sorted(os.path.relpath(p, again) for p in glob.glob(os.path.join(again, "**/*"), recursive=True) if os.path.isfile(p))
    assert files == files2 and "README.md" in files and "corpus.lock.tsv" in files
    for f in files:
        assert hashlib.sha256(open(os.path.join(dest, f), "rb").read()).digest() == hashlib.sha256(open(os.path.join(again, f), "rb").read()).digest(), f
    # the card holds the counts: per split, per filter, per scenario
    card = open(os.path.join(dest, "README.md")).read()
    for split, n in summary["records"].items():
        assert "| %s | " % split in card and " | %d |" % n in card
    for reason, n in summary["dropped"].items():
        assert "| %s | " % reason in card and card.split("| %s | " % reason)[-1].split("\n")[0].endswith("| %d |" % n)
    # docstring: GOOD's add, Store.fetch, outer, combine; beta's add, combine_values, add_scaled; 8 fillers
    assert summary["per_scenario"] == {"docstring": 15, "comments": 2, "both": 15}, summary["per_scenario"]
    assert "| comments | 2 |" in card and "| docstring (this export) | 15 |" in card


def test_a_crashed_export_is_cleaned_up(corpus):
    r, tmp = corpus
    stale = tmp / ".recovered.partial"
    (stale / "python").mkdir(parents=True)
    (stale / "python" / "half.jsonl.gz").write_bytes(b"\x1f\x8b half")
    export(r, tmp / "recovered")
    assert not stale.exists() and (tmp / "recovered" / "README.md").exists()
    assert not glob.glob(str(tmp / "recovered" / "python" / "half*"))


def test_functions_match_cpython_ast(corpus):
    r, tmp = corpus
    recs = records(export(r, tmp / "every", "--keep-tests", "--keep-dunders", "--keep-urls", "--any-language", "--min-code-lines", "1",
                          "--min-doc-tokens", "0", "--keep-duplicates", "--near-duplicates", "1", "--nested", "--scenario", "both")["dest"])
    ours = {(x["func_name"], x["start_line"], x["end_line"]) for x in recs if x["path"].endswith("core.py")}
    want = set()

    def walk(body, prefix, in_function):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if ast.get_docstring(node):  # a record needs some text: GOOD has no comment-only function
                    want.add((prefix + node.name, node.lineno, node.end_lineno))
                walk(node.body, prefix + node.name + ".", True)
            elif isinstance(node, ast.ClassDef):
                walk(node.body, prefix + node.name + ".", in_function)

    walk(ast.parse(GOOD).body, "", False)
    # every function of GOOD with a docstring is a record, with CPython's name and lines
    assert len(want) == 11 and ours == want, (sorted(want - ours), sorted(ours - want))


def test_parquet_and_loaders(corpus, default):
    r, tmp = corpus
    _, dest, _, recs = default
    pq_dest = tmp / "csn-parquet"
    export(r, pq_dest, "--format", "parquet")
    assert records(pq_dest, "parquet") == recs
    df = pd.concat(pd.read_json(p, lines=True) for p in sorted(glob.glob(os.path.join(dest, "python/final/jsonl/*/*.jsonl.gz"))))
    assert len(df) == len(recs) and {"repo", "code_tokens", "docstring_tokens", "partition"} <= set(df.columns)
    import datasets
    files = {s: sorted(glob.glob(os.path.join(dest, "python/final/jsonl/%s/*.jsonl.gz" % s))) for s in ("train", "valid", "test")}
    ds = datasets.load_dataset("json", data_files={k: v for k, v in files.items() if v}, cache_dir=str(tmp / "hf-cache"))
    assert sum(len(ds[k]) for k in ds) == len(recs)


def test_bad_input_gives_clear_errors(corpus, tmp_path):
    r, tmp = corpus
    res = r.run("export", "codesearchnet", str(tmp / "csn"), check=False)
    assert res.returncode == 1 and "exists" in res.stderr
    res = r.run("export", "codesearchnet", str(tmp_path / "x"), "--split", "80/30/10", check=False)
    assert res.returncode == 1 and "--split" in res.stderr and not (tmp_path / "x").exists()
    res = r.run("export", "codesearchnet", str(tmp_path / "x"), "--scenario", "poems", check=False)
    assert res.returncode == 2


def test_hostile_files_end_with_a_recorded_skip_or_records(binary, tmp_path):
    """The analyze suite's pathological files (a 1M-term sum, 54,188 components, 1,000-deep
    brackets, Python 2, invalid UTF-8, syntax errors, a 150-deep nest of functions) inside
    functions: the export finishes, records what it could not parse, and keeps the rest."""
    from test_analyze import SNIPPETS
    files = []
    for name, src in SNIPPETS.items():
        src = src if isinstance(src, bytes) else src.encode()
        files.append(("file", "hostile-1.0/hostile/" + name, src))
    deep = "".join("    " * i + "def f%d():\n" % i for i in range(150)) + "    " * 150 + "pass\n"
    files.append(("file", "hostile-1.0/hostile/deep_defs.py", deep.encode()))
    good = 'def keep(a, b):\n    """Return the product of two numbers."""\n    product = a * b\n    return product\n'
    files.append(("file", "hostile-1.0/hostile/good.py", good.encode()))
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "hostile-1.0.tar.gz").write_bytes(_tar(files))
    r = Runner(binary, str(tmp_path / "corpus"))
    r.run("init")
    r.run("add", str(inp), "--uploaded-on", "2024-03-04")
    s = export(r, tmp_path / "out", "--nested")
    # python2.py and broken.py do not parse; not_utf8.py is not text
    assert s["files_skipped"].get("syntax-error") == 2 and s["files_skipped"].get("not-text") == 1, s["files_skipped"]
    assert s["files_skipped"].get("too-deep") == 1, "150 nested functions exceed the walk's bound"
    assert [x["func_name"] for x in records(tmp_path / "out")] == ["keep"]


def test_a_tiny_memory_budget_gives_the_same_files(default, corpus, tmp_path):
    """memory_budget_bytes = 64: the records spill to sorted runs at every step (exact
    dedup, LSH buckets, near-duplicate ids, splits) and the dataset is byte for byte the
    same; the runs are gone afterwards."""
    r, _ = corpus
    _, dest, summary, _ = default
    assert summary["spilled_bytes"] == 0, "the default budget holds this small export"
    small = Runner(r.binary, str(tmp_path / "corpus"))
    shutil.copytree(r.corpus, small.corpus)
    set_memory_budget(small.corpus, 64)
    again = tmp_path / "csn"
    s = export(small, again)
    assert s["spilled_bytes"] > 0
    assert s["records"] == summary["records"] and s["dropped"] == summary["dropped"]
    files = sorted(os.path.relpath(p, dest) for p in glob.glob(os.path.join(dest, "**/*"), recursive=True) if os.path.isfile(p))
    files2 = sorted(os.path.relpath(p, again) for p in glob.glob(os.path.join(again, "**/*"), recursive=True) if os.path.isfile(p))
    assert files == files2
    for f in files:
        assert open(os.path.join(dest, f), "rb").read() == open(os.path.join(again, f), "rb").read(), f
    assert not any(".spill" in p for p in glob.glob(os.path.join(tmp_path, "**/*"), recursive=True))
