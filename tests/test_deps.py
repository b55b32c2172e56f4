"""Dependency metadata: generated distributions with every kind of metadata file, read by
pycorpus and by an independent oracle (tests/deps_oracle.py: packaging, tomllib, configparser,
email), which must agree on every requirement row, entry point, import name and field; the
tables through DuckDB and the Python module."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import Runner, _tar, _zip  # noqa: E402
import deps_oracle  # noqa: E402

MARKERS = [
    'python_version < "3.8"', "python_version >= '3.6' and python_version < '4'", 'sys_platform == "win32"',
    'platform_machine == "x86_64" or platform_machine == "aarch64"', 'implementation_name == "cpython"',
    '(python_version < "3.10" or sys_platform != "linux") and os_name == "posix"', 'python_full_version >= "3.8.1"',
    'platform_python_implementation != "PyPy"', '"linux" in sys_platform', 'python_version ~= "3.7"',
]
SPECS = ["", ">=1.0", "==2.*", "~=1.4.2", ">=2.8.1,==2.8.*", "!=1.5.7,<3,>=1", "===1.0.0", "<4.0dev0", ">1.0rc1", ">=1.0.post1"]
BAD = ["requests >= ", "==1.0", "foo (>=1.0", "bar; python_version >>> '3'", "baz[", "x @ ", "name extra"]


def core(name, version, mv, reqs, extra_headers=""):
    lines = ["Metadata-Version: %s" % mv, "Name: %s" % name, "Version: %s" % version] + ["Requires-Dist: %s" % r for r in reqs]
    return ("\n".join(lines) + "\n" + extra_headers + "\nA description.\nRequires-Dist: not-a-header\n").encode()


def generate(d):
    """About forty distributions: sdists with PKG-INFO, pyproject.toml, setup.cfg and egg-info,
    wheels with WHEEL, entry points and top_level.txt, an egg, a conda package, and hostile
    metadata."""
    os.makedirs(d, exist_ok=True)
    files = {}
    for i in range(24):
        name, v = "pkg%02d" % i, "1.%d" % i
        top = "%s-%s" % (name, v)
        reqs = []
        for j in range(4):
            dep = ["requests", "Click", "zope.interface", "typing_extensions", "numpy", "PyYAML"][(i + j) % 6]
            ex = "[socks]" if (i + j) % 5 == 0 else "[Security,Tests]" if (i + j) % 7 == 0 else ""
            spec = SPECS[(i * 3 + j) % len(SPECS)]
            mk = MARKERS[(i + j) % len(MARKERS)] if (i + j) % 3 == 0 else ""
            r = dep + ex + spec + ("; " + mk if mk else "")
            reqs.append(r)
        reqs.append('pytest>=7; extra == "Test_All"')
        reqs.append('sphinx; extra == "docs" and python_version >= "3.8"')
        if i % 4 == 0:
            reqs.append("pip @ https://example.invalid/pip-%d.zip" % i)
        if i % 5 == 0:
            reqs.append(BAD[i % len(BAD)])
        mv = ["1.0", "1.1", "1.2", "2.1", "2.2", "2.3", "2.4"][i % 7]
        headers = "Summary: package %d\nLicense: MIT\n  second line\nClassifier: Programming Language :: Python :: 3\nProvides-Extra: test-all\nProvides-Extra: docs\n" % i
        if mv == "2.4":
            headers += "License-Expression: MIT OR Apache-2.0\nLicense-File: LICENSE\nLicense-File: licenses/NOTICE\n"
        if mv in ("2.2", "2.3", "2.4"):
            headers += "Dynamic: Requires-Dist\n"
        if mv == "1.1":
            headers += "Requires: os.path\nProvides: %s\nObsoletes: old%s\n" % (name, name)
        headers += "Platform: any\nKeywords: a,b c\nHome-page: https://example.invalid/%s\nAuthor: A. Person\nAuthor-email: a@example.invalid\nRequires-External: libpq (>=9)\n" % name
        pkg_info = core(name, v, mv, reqs, headers)
        entries = [("file", top + "/PKG-INFO", pkg_info), ("file", top + "/%s/__init__.py" % name, b"x = 1\n")]
        if i % 2 == 0:
            pyproject = '[build-system]\nrequires = ["%s", "wheel; python_version < \'3.12\'"]\nbuild-backend = "%s"\n' % (
                ["setuptools>=61", "hatchling", "flit_core>=3.2,<4", "poetry-core>=1.0.0", "maturin>=1,<2", "pdm-backend"][i % 6],
                ["setuptools.build_meta", "hatchling.build", "flit_core.buildapi", "poetry.core.masonry.api", "maturin", "pdm.backend"][i % 6])
            if i % 4 == 0:
                pyproject += '[project]\nname = "%s"\ndynamic = ["version"]\nrequires-python = ">=3.8"\ndependencies = ["requests>=2", "attrs; python_version<\'3.10\'"]\n' % name
                pyproject += '[project.optional-dependencies]\nTest_All = ["pytest>=7", "coverage[toml]"]\n'
            pyproject += "[tool.black]\nline-length = 100\n[tool.pytest.ini_options]\naddopts = '-q'\n"
            entries.append(("file", top + "/pyproject.toml", pyproject.encode()))
        if i % 3 == 0:
            cfg = "[metadata]\nname = %s\n\n[options]\ninstall_requires =\n    requests>=2.8.1\n    click; python_version>'3'\n# a comment\nsetup_requires = setuptools_scm; wheel\n\n[options.extras_require]\nTest_All =\n    pytest\n" % name
            entries.append(("file", top + "/setup.cfg", cfg.encode()))
        if i % 2 == 1:
            rt = "requests>=2.8.1\nclick\n\n[socks]\nPySocks!=1.5.7,>=1.5.6\n\n[:python_version < \"3.8\"]\nimportlib-metadata\n\n[test:sys_platform == \"win32\"]\ncolorama; platform_machine == 'x86'\n"
            entries += [("file", top + "/src/%s.egg-info/requires.txt" % name, rt.encode()),
                        ("file", top + "/src/%s.egg-info/entry_points.txt" % name, b"[console_scripts]\n%s = %s.cli:main\n" % (name.encode(), name.encode())),
                        ("file", top + "/src/%s.egg-info/top_level.txt" % name, name.encode() + b"\n")]
        files[top + ".tar.gz"] = _tar(entries)
        if i % 2 == 0:
            wname = "%s-%s-py3-none-any.whl" % (name, v)
            files[wname] = _zip([
                ("file", "%s/__init__.py" % name, b"x = 1\n"),
                ("file", "%s/sub/mod.py" % name, b"y = 2\n"),
                ("file", "_%s_speedups.cpython-312-x86_64-linux-gnu.so" % name, b"\x7fELF\x00binary"),
                ("file", "%s_cli.py" % name, b"def main(): pass\n"),
                ("file", "%s-%s.data/scripts/run" % (name, v), b"#!/bin/sh\n"),
                ("file", "%s-%s.dist-info/METADATA" % (name, v), pkg_info),
                ("file", "%s-%s.dist-info/WHEEL" % (name, v), b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: %s\nTag: py3-none-any\nTag: py2-none-any\nBuild: 1\n" % (b"true" if i % 4 else b"False")),
                ("file", "%s-%s.dist-info/entry_points.txt" % (name, v), b"[console_scripts]\n%s = %s_cli:main\n\n[gui_scripts]\n%s-gui = %s.gui:run [gui]\n\n[pygments.lexers]\n; a comment\nfoo = %s.lexer:Lexer\n" % ((name.encode(),) * 5)),
                ("file", "%s-%s.dist-info/top_level.txt" % (name, v), b"%s\n%s_cli\n" % (name.encode(), name.encode())),
            ])
    files["oldegg-0.9-py2.7.egg"] = _zip([("file", "EGG-INFO/PKG-INFO", core("oldegg", "0.9", "1.0", [], "Summary: an egg\n")),
                                         ("file", "EGG-INFO/requires.txt", b"setuptools\n[extra]\nsix>=1.10\n"),
                                         ("file", "oldegg/__init__.py", b"")])
    index = {"name": "condapkg", "version": "1.0", "license": "BSD-3-Clause", "depends": ["python >=3.8,<3.9.0a0", "numpy >=1.20", "libgcc-ng >=12"]}
    files["condapkg-1.0-py38_0.tar.bz2"] = _tar([("file", "info/index.json", json.dumps(index).encode()), ("file", "lib/python3.8/site-packages/condapkg/__init__.py", b"")], "w:bz2")
    # hostile: a header without a colon and invalid UTF-8, a pyproject.toml that is not TOML
    files["hostile-1.0.tar.gz"] = _tar([("file", "hostile-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: hostile\nVersion: 1.0\nSummary: caf\xe9\nno colon here\nRequires-Dist: requests\n\n"),
                                        ("file", "hostile-1.0/pyproject.toml", b"[build-system\nrequires = ["),
                                        ("file", "hostile-1.0/hostile/__init__.py", b"")])
    for n, data in files.items():
        with open(os.path.join(d, n), "wb") as f:
            f.write(data)
    return sorted(os.path.join(d, n) for n in files)


@pytest.fixture(scope="module")
def corpus(binary, tmp_path_factory):
    root = tmp_path_factory.mktemp("deps")
    archives = generate(str(root / "in"))
    c = str(root / "corpus")
    r = Runner(binary, c)
    r.run("init")
    r.run("add", str(root / "in"))
    r.run("seal")
    return r, c, archives


def test_the_oracle_agrees_on_every_row_and_field(corpus):
    _, c, archives = corpus
    counts, bad = deps_oracle.compare(*deps_oracle.corpus_tables(c), archives)
    assert counts["distributions"] == len(archives) and counts["requirements"] > 250 and counts["entry_points"] > 30, counts
    assert counts["import_names"] > 50 and counts["fields"] > 500, counts
    assert not bad, "\n".join(json.dumps(b, default=str)[:800] for b in bad[:20])


def test_the_oracle_sees_a_wrong_row(corpus):
    """The comparison can fail: a changed specifier, marker, kind or field is caught."""
    _, c, archives = corpus
    reqs, eps, names, rels = deps_oracle.corpus_tables(c)
    i = next(i for i, r in enumerate(reqs) if r["marker"] and r["specifier"])
    for change in ({"specifier": ">=0"}, {"marker": 'python_version < "2"'}, {"kind": "build"}, {"name": "other"}):
        tampered = [dict(r, **change) if j == i else r for j, r in enumerate(reqs)]
        assert deps_oracle.compare(tampered, eps, names, rels, archives)[1], change
    rels2 = [dict(r, wheel_tags=["x"]) if r["project_release"].endswith(".whl") else r for r in rels]
    assert deps_oracle.compare(reqs, eps, names, rels2, archives)[1]


def test_duckdb_reads_the_tables_and_agrees_with_the_cli(corpus):
    duckdb = pytest.importorskip("duckdb")
    r, c, _ = corpus
    glob = os.path.join(c, "shards", "*", "requirements.parquet")
    con = duckdb.connect()
    sql = ("SELECT project_name, project_version, project_release, source, kind, specifier FROM read_parquet('%s') "
           "WHERE name = 'requests' AND NOT starts_with(kind, 'extra:') ORDER BY ALL" % glob)
    got = con.execute(sql).fetchall()
    cli = [json.loads(line) for line in r.run("deps", "requests", "--reverse", "--format", "jsonl").stdout.splitlines()]
    want = sorted((x["project_name"], x["project_version"], x["project_release"], x["source"], x["kind"], x["specifier"]) for x in cli)
    assert got == want and len(got) > 20, (len(got), len(want))
    # joined to releases.parquet: build backends of releases that require requests
    rel = os.path.join(c, "shards", "*", "releases.parquet")
    backends = con.execute("SELECT DISTINCT r.build_backend FROM read_parquet('%s') r JOIN read_parquet('%s') q USING (project_release) "
                           "WHERE q.name = 'requests' AND r.build_backend IS NOT NULL ORDER BY 1" % (rel, glob)).fetchall()
    assert ("setuptools.build_meta",) in backends and len(backends) >= 3, backends
    eps = con.execute("SELECT count(*) FROM read_parquet('%s') WHERE \"group\" = 'console_scripts'" % os.path.join(c, "shards", "*", "entry_points.parquet")).fetchone()[0]
    assert eps >= 12


def test_the_module_gives_the_same_rows(corpus):
    pycorpus = pytest.importorskip("pycorpus")
    r, c, _ = corpus
    corpus_ = pycorpus.Corpus(c)
    t = corpus_.requirements()
    assert t.column_names[:4] == ["project_name", "project_version", "project_release", "uploaded_on"] and "specifier" in t.column_names
    assert t.num_rows == sum(len(deps_oracle.Dist(a).requirements) for a in corpus[2])
    rev = corpus_.reverse_deps("Requests")
    cli = r.run("deps", "requests", "--reverse", "--format", "jsonl").stdout.splitlines()
    assert rev.num_rows == len(cli) > 0
    assert corpus_.reverse_deps("pytest").num_rows == 0 < corpus_.reverse_deps("pytest", extras=True).num_rows
    assert corpus_.deps("pkg00").num_rows > 0 and corpus_.deps("pkg00", since="2999-01-01").num_rows == 0
    with pytest.raises(TypeError):
        corpus_.deps("pkg00", colour=True)
    with pytest.raises(ValueError):
        corpus_.deps("pkg00", since="yesterday")
