"""Files nested tens of thousands deep through the Python module: whatever was called before
(`grep`, `iter_files`, `files`, which set up rayon's global pool with ordinary stacks), `analyze`
and `export_codesearchnet` record a status for every file and the interpreter lives on.

Each order runs in its own interpreter, so that a crash (a stack overflow kills the process)
fails its test with the signal instead of taking pytest down."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

pycorpus = pytest.importorskip("pycorpus", reason="the module is built by scripts/test.sh (pip install .)")

from conftest import _tar, sdist  # noqa: E402

DEPTH = 30_000


def lines_of(part, n):
    """`part` `n` times, a line break every 100 (the ingest skips files of fewer than five
    lines as minified; inside brackets a line may break anywhere between tokens)."""
    return "\n".join(part * min(100, n - i) for i in range(0, n, 100))


def nested(opening, closing, inner="1", n=DEPTH):
    """`x = ` then `opening` n times, `inner`, `closing` n times, all inside one pair of
    parentheses so that lines can break."""
    return "x = (\n" + lines_of(opening, n) + "\n" + inner + "\n" + lines_of(closing, n) + "\n)\n"


def deep_sources():
    """One file per way of nesting, each `DEPTH` levels deep (blocks: as deep as a few MiB of
    indentation allow)."""
    fstring = 'f"{' * 150 + "1" + '}"' * 150  # PEP 701: f-strings inside f-strings
    blocks, heads = [], ["if x:", "def f():", "for i in y:", "while x:", "with a:", "class C:"]
    for i in range(3_000):
        blocks.append(" " * i + heads[i % len(heads)] + "\n")
    blocks.append(" " * 3_000 + "pass\n")
    return {
        "parens": nested("(", ")"),
        "brackets": nested("[", "]", inner=""),
        "braces": nested("{'k': ", "}"),
        "nots": nested("not ", "", inner="y"),
        "unary": nested("-~", "", n=DEPTH // 2),
        "lambdas": nested("lambda: ", ""),
        "calls": nested("f(", ")", inner=""),
        "chained_calls": nested("", "()", inner="f"),
        "attributes": nested("", ".b", inner="a"),
        "subscripts": nested("", "[0]", inner="a"),
        "sum": nested("", " + 1"),
        "power": nested("", " ** 2", inner="2"),
        "fstrings": nested("(", ")", inner=fstring),
        "blocks": "".join(blocks),
        "plain": textwrap.dedent('''
            def moving_average(values, window):
                """Return the moving average of values over a window of the given size."""
                if window <= 0:
                    raise ValueError("window must be positive")
                total, out = 0.0, []
                for i, v in enumerate(values):
                    total += v
                    if i >= window:
                        total -= values[i - window]
                    out.append(total / min(i + 1, window))
                return out
        '''),
    }


@pytest.fixture(scope="module")
def deep_corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("deep")
    sources = deep_sources()
    files = [("file", "deep-1.0/deep/%s.py" % name, src.encode()) for name, src in sources.items()]
    archive = d / "deep-1.0.tar.gz"
    archive.write_bytes(_tar(sdist("deep", "1.0", files)))
    c = pycorpus.Corpus(d / "corpus", create=True)
    c.add([archive], uploaded_on="2024-01-02")
    c.seal()
    return d / "corpus", len(sources) + 3  # and the sdist's setup.py, __init__.py, util.py


SCRIPT = textwrap.dedent("""
    import json, sys, pycorpus
    c = pycorpus.Corpus(sys.argv[1])
    out = {}
    for step in sys.argv[3:]:
        if step == "grep":
            out[step] = len(c.grep("x = ", ext="py"))
        elif step == "iter_files":
            out[step] = sum(1 for _ in c.iter_files(ext="py", unique=True))
        elif step == "files":
            out[step] = c.files(ext="py").num_rows
        elif step == "analyze":
            out[step] = c.analyze(ext="py")
        elif step == "export":
            out[step] = c.export_codesearchnet(sys.argv[2], scenario="both")
    print(json.dumps(out, default=str))
""")

ORDERS = [
    ("grep", "analyze"),
    ("iter_files", "analyze"),
    ("files", "analyze"),
    ("grep", "export"),
    ("iter_files", "export"),
    ("files", "export"),
    ("analyze", "export"),
    ("export", "analyze"),
    ("grep", "iter_files", "files", "export", "analyze"),
]


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_deep_files_get_a_status_whatever_ran_before(deep_corpus, tmp_path, order):
    src, n_files = deep_corpus
    corpus = tmp_path / "c"
    shutil.copytree(src, corpus)  # analyze writes into its corpus
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(corpus), str(tmp_path / "csn"), *order],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "the interpreter died (%d): %s" % (r.returncode, r.stderr[-2000:])
    out = json.loads(r.stdout)
    if "grep" in out:
        assert out["grep"] == len([k for k in deep_sources() if k not in ("blocks", "plain")])
    if "iter_files" in out:
        assert out["iter_files"] == n_files
    if "analyze" in out:
        a = out["analyze"]
        assert a["analyzed"] == n_files and sum(a["by_status"].values()) == n_files, a
        assert a["by_status"].get("ok", 0) >= 1, a
        assert a["by_status"].get("limit", 0) >= 10, "files deeper than the walk's limit are recorded as such: %s" % a
    if "export" in out:
        e = out["export"]
        assert e["blobs"] == n_files, e
        assert e["functions"] >= 1 and sum(e["records"].values()) >= 1, e
        assert sum(e["files_skipped"].values()) <= n_files, e
