"""`pycorpus report` end to end: a generated corpus of two projects over three years, analysed
and reported; the tables checked against hand-counted expectations, the Parquet copies against
the CSV, and the page opened in headless Chromium (Debian's package): its DOM's chart points,
bars and tables must equal the CSV, and its screenshot must show the charts."""
import os
import re
import shutil

import pyarrow.parquet as pq
import pytest

from conftest import Runner, _tar, set_memory_budget, _zip
from report_check import BLUE, cell, check_page, png_colours, read_csv

PKG_INFO = "Metadata-Version: 2.1\nName: {0}\nVersion: {1}\nSummary: s\nRequires-Dist: requests>=2\nRequires-Dist: pytest; extra == 'test'\n\n"
SETUP = b"from setuptools import setup\nsetup()\n"


def pyproject(backend):
    return ("[build-system]\nrequires = ['x']\nbuild-backend = %r\n" % backend).encode()


def sd(name, version, files):
    top = "%s-%s" % (name, version)
    entries = [("file", top + "/PKG-INFO", PKG_INFO.format(name, version).encode())]
    return _tar(entries + [("file", top + "/" + p, data) for p, data in files])


def whl(name, version, files):
    meta = "%s-%s.dist-info/METADATA" % (name, version)
    return _zip([("file", meta, PKG_INFO.format(name, version).encode())] + [("file", p, data) for p, data in files])


UTIL = b"def f(x):\n    return '%s' % x\n"
ANNOTATED = b"def f(a: int) -> int:\n    return a\n"
# (file name, upload date, bytes)
DISTS = [
    ("alpha-1.0.tar.gz", "2021-05-01", lambda: sd("alpha", "1.0", [("setup.py", SETUP), ("alpha/__init__.py", b"import os\nimport alpha.util\n"), ("alpha/util.py", UTIL)])),
    ("alpha-2.0.tar.gz", "2022-05-01", lambda: sd("alpha", "2.0", [
        ("setup.py", SETUP), ("pyproject.toml", pyproject("setuptools.build_meta")),
        ("alpha/__init__.py", b"import os, requests\nx = f'{1}'\n"), ("alpha/util.py", UTIL),
        ("tests/test_new.py", b"match 1:\n    case 1:\n        pass\n")])),
    ("alpha-3.0.tar.gz", "2023-05-01", lambda: sd("alpha", "3.0", [
        ("pyproject.toml", pyproject("hatchling.build")), ("alpha/__init__.py", ANNOTATED), ("alpha/py.typed", b"")])),
    ("alpha-3.0-py3-none-any.whl", "2023-05-02", lambda: whl("alpha", "3.0", [("alpha/__init__.py", ANNOTATED), ("alpha/setup.py", b"x = 1\n")])),
    # a hostile build backend: must reach the page as text, never as markup
    ("beta-1.0.tar.gz", "2022-07-01", lambda: sd("beta", "1.0", [
        ("pyproject.toml", pyproject("<script>alert(1)</script>")), ("beta.py", b"print 'hello'\n"), ("ext.c", b"int x;\n")])),
    ("beta-2.0-py3-none-any.whl", "2023-02-01", lambda: whl("beta", "2.0", [("beta.py", b"import requests\nasync def main(x):\n    await x\n")])),
]


@pytest.fixture(scope="module")
def corpus(binary, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    r = Runner(binary, str(tmp / "corpus"))
    r.run("init")
    for i, (name, date, make) in enumerate(DISTS):
        d = tmp / ("in-" + name)
        d.mkdir()
        (d / name).write_bytes(make())
        r.run("add", str(d), "--uploaded-on", date)
        if i == 3:
            r.run("seal")  # alpha in a sealed shard, beta in the open one: the report reads both
    return r, tmp


def test_report_before_analyze_says_what_to_do(corpus, tmp_path):
    r, _ = corpus
    res = r.run("report", "-o", str(tmp_path / "r.html"), check=False)
    assert not os.path.isdir(os.path.join(r.corpus, "analysis")), "runs before the report fixture analyses"
    assert res.returncode == 1 and "pycorpus analyze" in res.stderr, res.stderr
    assert not (tmp_path / "r.html").exists()


def test_wrong_flags_are_usage_errors(corpus, tmp_path):
    r, _ = corpus
    res = r.run("report", "--period", "week", check=False)
    assert res.returncode == 2 and "week" in res.stderr
    res = r.run("report", "--unique", check=False)
    assert res.returncode != 0 and "--unique" in res.stderr


@pytest.fixture(scope="module")
def report(corpus):
    r, tmp = corpus
    r.run("analyze")
    out = tmp / "out"
    res = r.run("report", "-o", str(out / "report.html"), "--csv", str(out / "csv"), "--parquet", str(out / "pq"),
                "--period", "year", "--min-units", "1")
    assert res.stdout.strip() == "report: %s" % (out / "report.html"), res.stdout
    return r, out


def test_tables_hold_the_hand_counted_figures(report):
    _, out = report
    ad = read_csv(out / "csv" / "adoption.csv")
    # releases per year: 2021 alpha 1.0; 2022 alpha 2.0 and beta 1.0; 2023 alpha 3.0 and beta 2.0
    assert cell(ad, view="release", period="2021", feature="fstrings")["units"] == "1"
    c = cell(ad, view="release", period="2022", feature="fstrings")
    assert (c["units"], c["with_feature"], c["percent"]) == ("2", "1", "50.0")
    assert cell(ad, view="release", period="2022", feature="python2")["percent"] == "50.0"
    assert cell(ad, view="release", period="2022", feature="match_stmts")["percent"] == "50.0"  # in tests/, counted
    assert cell(ad, view="release", period="2023", feature="annotations")["percent"] == "50.0"
    assert cell(ad, view="release", period="2023", feature="async")["percent"] == "50.0"
    assert cell(ad, view="release", period="2023", feature="fstrings")["percent"] == "0.0"
    # projects per year: both projects upload in 2022 and 2023
    assert cell(ad, view="project_period", period="2022", feature="fstrings")["units"] == "2"
    assert cell(ad, view="project_period", period="2021", feature="fstrings")["units"] == "1"
    # unique files, in the year first seen: util.py (unchanged in 2.0) belongs to 2021, and the
    # wheel's copy of alpha 3.0's __init__.py is the same blob as the sdist's
    c = cell(ad, view="file", period="2021", feature="fstrings")
    assert c["units"] == "3"  # setup.py, alpha/__init__.py, alpha/util.py
    c = cell(ad, view="file", period="2022", feature="fstrings")
    assert (c["units"], c["with_feature"], c["percent"]) == ("3", "1", "33.3")
    c = cell(ad, view="file", period="2023", feature="annotations")
    assert (c["units"], c["with_feature"]) == ("3", "1")  # alpha/__init__, the wheel's alpha/setup.py, beta.py

    pk = read_csv(out / "csv" / "packaging.csv")
    assert cell(pk, period="2021", fact="setup_py")["percent"] == "100.0"
    assert cell(pk, period="2021", fact="pyproject")["percent"] == "0.0"
    c = cell(pk, period="2022", fact="pyproject_only")
    assert (c["sdist_releases"], c["with_fact"]) == ("2", "1")
    assert cell(pk, period="2022", fact="c")["percent"] == "50.0"
    assert cell(pk, period="2023", fact="py_typed")["percent"] == "100.0"
    # beta 2.0 has no source distribution: not in the packaging denominator; and a wheel's
    # alpha/setup.py is a module, not a build file
    assert cell(pk, period="2023", fact="setup_py")["with_fact"] == "0"
    assert cell(pk, period="2023", fact="pyproject")["sdist_releases"] == "1"

    bb = read_csv(out / "csv" / "build_backends.csv")
    assert cell(bb, period="2022", backend="setuptools.build_meta")["percent"] == "50.0"
    assert cell(bb, period="2022", backend="<script>alert(1)</script>")["releases"] == "1"
    assert cell(bb, period="2023", backend="hatchling.build")["percent"] == "100.0"

    mv = read_csv(out / "csv" / "min_versions.csv")
    assert cell(mv, min_version="3.7 or older")["releases"] == "3"  # alpha 1.0, 3.0, beta 2.0
    assert cell(mv, min_version="3.10")["releases_percent"] == "25.0"  # alpha 2.0's match

    im = read_csv(out / "csv" / "imports.csv")
    assert cell(im, module="os")["releases"] == "2" and cell(im, module="os")["kind"] == "stdlib"
    assert cell(im, module="requests")["kind"] == "third-party" and cell(im, module="requests")["releases"] == "2"
    assert not [x for x in im if x["module"] == "alpha"], "alpha importing itself is not third-party use"

    st = read_csv(out / "csv" / "parse_status.csv")
    assert cell(st, status="python2")["files"] == "1"

    summary = {x["item"]: x["value"] for x in read_csv(out / "csv" / "summary.csv")}
    assert summary["projects"] == "2" and summary["releases"] == "5" and summary["period"] == "year"

    # packaging metadata: every release requires requests (alpha's in a sealed shard, beta's in
    # the open one), with a pytest extra; 2022: alpha 2.0's pyproject.toml has no [project]
    mr = read_csv(out / "csv" / "most_required.csv")
    assert mr == [{"project": "requests", "requiring_projects": "2", "requiring_releases": "5"}], mr
    pm = read_csv(out / "csv" / "packaging_metadata.csv")
    c = cell(pm, period="2022", fact="extras")
    assert (c["units"], c["with_fact"], c["percent"]) == ("2", "2", "100.0")
    assert cell(pm, period="2022", fact="markers")["with_fact"] == "0"
    c = cell(pm, period="2022", fact="pep621")
    assert (c["units"], c["with_fact"]) == ("2", "0")
    assert cell(read_csv(out / "csv" / "metadata_versions.csv"), period="2023", metadata_version="2.1")["releases"] == "2"
    # the standard library over time: os, imported by alpha 1.0 (2021) and 2.0 (2022), not in 2023
    so = read_csv(out / "csv" / "stdlib_over_time.csv")
    assert cell(so, period="2021", module="os")["percent"] == "100.0" and cell(so, period="2022", module="os")["percent"] == "50.0"
    movers = read_csv(out / "csv" / "stdlib_movers.csv")
    assert movers[0]["module"] == "os" and movers[0]["change_points"] == "-100.0", movers


def test_parquet_tables_equal_the_csv(report):
    _, out = report
    for name in sorted(os.listdir(out / "csv")):
        rows = read_csv(out / "csv" / name)
        table = pq.read_table(out / "pq" / name.replace(".csv", ".parquet")).to_pylist()
        assert len(table) == len(rows), name
        for a, b in zip(rows, table):
            for k, v in a.items():
                w = b[k]
                assert (("%.1f" % w) if isinstance(w, float) else str(w)) == v, (name, k, v, w)


def test_leaving_out_tests_and_docs(report, tmp_path):
    r, _ = report
    r.run("report", "-o", str(tmp_path / "r.html"), "--csv", str(tmp_path / "csv"), "--period", "year", "--exclude-tests-docs", "--no-charts")
    ad = read_csv(tmp_path / "csv" / "adoption.csv")
    assert cell(ad, view="release", period="2022", feature="match_stmts")["with_feature"] == "0"
    assert not (tmp_path / "charts").exists()
    summary = {x["item"]: x["value"] for x in read_csv(tmp_path / "csv" / "summary.csv")}
    assert summary["Python files left out (tests, docs, examples)"] == "1"


def test_unwritable_output_and_empty_selection(report, tmp_path):
    r, _ = report
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = r.run("report", "-o", str(blocker / "r.html"), check=False)
    assert res.returncode == 1 and res.stderr.startswith("error: cannot write %s" % blocker), res.stderr
    assert res.stderr.count("Not a directory") == 1, "the cause is said once"
    res = r.run("report", "--project", "no-such-project", "-o", str(tmp_path / "e.html"), "--csv", str(tmp_path / "csv"))
    assert "no file matched the filters" in res.stderr and (tmp_path / "e.html").exists()
    assert read_csv(tmp_path / "csv" / "adoption.csv") == []


def test_page_in_headless_chromium_equals_the_csv(report, tmp_path):
    _, out = report
    shot = tmp_path / "report.png"
    seen = check_page(out / "report.html", out / "csv", tmp_path, shot, min_units=1)
    assert seen["points"] > 100 and seen["bars"] >= 4
    assert {"adoption", "packaging", "build_backends"} <= set(seen["tables"])
    keep = os.environ.get("PYCORPUS_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_chart_files_are_svg_and_png(report):
    _, out = report
    charts = out / "charts"
    svgs = sorted(p.name for p in charts.iterdir() if p.suffix == ".svg")
    pngs = sorted(p.name for p in charts.iterdir() if p.suffix == ".png")
    assert len(svgs) == len(pngs) >= 20 and [s[:-4] for s in svgs] == [p[:-4] for p in pngs]
    assert "features-strings-release.svg" in svgs and "build-backends.svg" in svgs
    svg = (charts / "features-strings-release.svg").read_text()
    assert svg.startswith("<svg xmlns=") and 'data-series="fstrings"' in svg
    colours = png_colours(charts / "features-strings-release.png")
    assert BLUE in colours and len(colours) > 20, "the PNG chart holds its lines, not a blank"


def test_a_tiny_memory_budget_gives_the_same_tables(report, tmp_path):
    """memory_budget_bytes = 64: facts, Python rows, releases and (project, month) pairs
    all go through sorted runs on disk; every table is the same, and no run is left behind."""
    r, out = report
    small = Runner(r.binary, str(tmp_path / "corpus"))
    shutil.copytree(r.corpus, small.corpus)
    set_memory_budget(small.corpus, 64)
    for period in ("year", "month"):
        csv_a, csv_b = tmp_path / ("a-" + period), tmp_path / ("b-" + period)
        args = ["--no-charts", "--period", period, "--min-units", "1"]
        r.run("report", "-o", str(tmp_path / ("a-%s.html" % period)), "--csv", str(csv_a), *args)
        small.run("report", "-o", str(tmp_path / ("b-%s.html" % period)), "--csv", str(csv_b), *args)
        names = sorted(os.listdir(csv_a))
        assert names and names == sorted(os.listdir(csv_b))
        for name in names:
            assert (csv_a / name).read_bytes() == (csv_b / name).read_bytes(), (period, name)
    leftover = os.path.join(small.corpus, "tmp")
    assert not os.path.exists(leftover) or os.listdir(leftover) == []


def test_spill_folder_that_cannot_be_made_is_a_clear_error(report, tmp_path):
    """<corpus>/tmp taken by a file: a report that must spill (a tiny budget) stops with exit 1
    and names the folder. (One that fits its budget never makes the folder.)"""
    r, _ = report
    broken = Runner(r.binary, str(tmp_path / "corpus"))
    shutil.copytree(r.corpus, broken.corpus)
    shutil.rmtree(os.path.join(broken.corpus, "tmp"), ignore_errors=True)
    open(os.path.join(broken.corpus, "tmp"), "w").write("not a folder")
    cfg = os.path.join(broken.corpus, "corpus.toml")
    text = open(cfg).read()
    assert "memory_budget_bytes" in text
    open(cfg, "w").write(re.sub(r"(?m)^memory_budget_bytes\s*=\s*\d+", "memory_budget_bytes = 4096", text))
    res = broken.run("report", "-o", str(tmp_path / "r.html"), "--no-charts", check=False)
    assert res.returncode == 1, res
    assert "tmp" in res.stderr and "temporary files" in res.stderr, res.stderr
    assert not (tmp_path / "r.html").exists()
