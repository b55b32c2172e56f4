"""The Python module `pycorpus` (built from crates/pycorpus-py by `pip install .`): every method
on a generated corpus, its errors, Ctrl-C, and `get`/`Seeder` in the same swarms as the CLI."""
import glob
import gzip
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pycorpus = pytest.importorskip("pycorpus", reason="the module is built by scripts/test.sh (pip install .)")

from swarm import RangeServer, Seeder as CliSeeder, tree_digest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@pytest.fixture(scope="module")
def corpus(built):
    return pycorpus.Corpus(built["sealed"].corpus)


def cli_json_lines(binary, corpus_dir, *args):
    r = subprocess.run([binary, "--corpus", corpus_dir, *args], capture_output=True, text=True, check=True)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def test_files_is_the_index_as_arrow(corpus, built, binary):
    t = corpus.files(ext="py")
    ls = cli_json_lines(binary, built["sealed"].corpus, "ls", "--ext", "py", "--format", "jsonl")
    assert t.num_rows == len(ls) > 10
    assert t.schema.names[:3] == ["project_name", "project_version", "project_release"]
    assert sorted(t.column("path").to_pylist()) == sorted(r["path"] for r in ls)
    df = corpus.files(project="alpha", version=["1.1"]).to_pandas()
    assert set(df["project_release"]) == {"alpha-1.1.tar.gz"}
    empty = corpus.files(project="nothing-like-this")
    assert empty.num_rows == 0
    # Handed over in memory, the table is what pyarrow reads from the shards' own index files:
    # same types, same rows, same order.
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = corpus.shards()
    assert shards and all(s["kind"] == "sealed" for s in shards)
    on_disk = pa.concat_tables([pq.read_table(s["path"] / "files.parquet") for s in shards])
    whole = corpus.files()
    assert whole.schema.equals(on_disk.schema, check_metadata=False)
    assert empty.schema.equals(on_disk.schema, check_metadata=False)
    assert whole.equals(on_disk)


def test_the_arrow_stream_behind_files_can_be_taken_once(corpus):
    import pyarrow as pa

    stream = corpus._c.files_arrow(pycorpus._filters({"ext": "py"}))
    assert pa.RecordBatchReader.from_stream(stream).read_all().num_rows == corpus.files(ext="py").num_rows
    with pytest.raises(ValueError, match="already consumed"):
        pa.RecordBatchReader.from_stream(stream)


def test_read_and_iter_files_agree_with_the_cli(corpus, built, binary):
    rows = list(corpus.iter_files(ext="py", unique=True))
    streamed = cli_json_lines(binary, built["sealed"].corpus, "stream", "--ext", "py", "--unique")
    assert len(rows) == len(streamed) == len({r["hash"] for r, _ in rows})
    by_oid = {s["oid"]: s["contents"].encode() for s in streamed}
    for row, data in rows:
        assert data == by_oid[row["hash"]] == corpus.read(row["hash"])
        assert row["project_name"] and row["uploaded_on"].startswith("2024-01-02")
    # Without unique: one item per file row, blobs shared by several rows repeated.
    all_rows = list(corpus.iter_files(ext="py"))
    assert len(all_rows) == corpus.files(ext="py", skip_reason="none").num_rows >= len(rows)
    # Stopping early leaves nothing running.
    it = corpus.iter_files()
    next(it)
    it.close()
    del it


def test_cat_by_project_version_and_path_is_the_clis(corpus, built, binary):
    """cat(project, version, path) gives the CLI's `cat PROJECT VERSION PATH` bytes, and its
    refusals as Python errors with the CLI's reasons."""
    root = built["sealed"].corpus
    want = subprocess.run([binary, "--corpus", root, "cat", "alpha", "1.0", "alpha/util.py"], capture_output=True, check=True).stdout
    assert want.startswith(b"def helper")
    assert corpus.cat("alpha", "1.0", "alpha/util.py") == want == corpus.cat("alpha", "1.0", "alpha-1.0/alpha/util.py")
    with pytest.raises(KeyError, match="no file .nope.py. in alpha 1.0"):
        corpus.cat("alpha", "1.0", "nope.py")
    with pytest.raises(ValueError, match="matches 2 files with different contents"):
        corpus.cat("odd", "1.0", "dup.py")
    with pytest.raises(pycorpus.PycorpusError, match="contents are not stored .skip reason: too-large"):
        corpus.cat("odd", "1.0", "big.txt")
    with pytest.raises(TypeError, match="version: expected a string"):
        corpus.cat("alpha", 1.0, "alpha/util.py")
    for args, why in ((["alpha", "1.0", "nope.py"], "; list them with: pycorpus ls --project alpha --version 1.0"), (["odd", "1.0", "dup.py"], "different contents"), (["odd", "1.0", "big.txt"], "not stored")):
        r = subprocess.run([binary, "--corpus", root, "cat", *args], capture_output=True, text=True)
        assert r.returncode == 1 and why in r.stderr, r.stderr


def test_report_and_features_refuse_the_unique_filter(corpus, built, binary, tmp_path):
    """One row per blob would make a report count something else: both front ends refuse it."""
    with pytest.raises(pycorpus.PycorpusError, match="unique filter does not apply to a report"):
        corpus.features(unique=True)
    r = subprocess.run([binary, "--corpus", built["sealed"].corpus, "report", "--unique", "-o", str(tmp_path / "r.html")], capture_output=True, text=True)
    assert r.returncode == 1 and "unique filter does not apply to a report" in r.stderr and "leave out --unique" in r.stderr, r.stderr
    assert not (tmp_path / "r.html").exists()


def test_export_takes_the_clis_options_with_its_checks(binary, tmp_path):
    """Every option of `export codesearchnet` is a keyword argument (None: the default), with
    the same checks, and gives the CLI's dataset."""
    from conftest import _tar, sdist
    funcs = "".join('def f%d(x):\n    """Adds %d."""\n    return x + %d\n\n' % (i, i, i) for i in range(40))
    tests = "".join('def test_%d():\n    """Checks it all works fine."""\n    assert f0(1) == 1\n    assert True\n\n' % i for i in range(10))
    archive = tmp_path / "fx-1.0.tar.gz"
    archive.write_bytes(_tar(sdist("fx", "1.0", [("file", "fx-1.0/fx/funcs.py", funcs.encode()), ("file", "fx-1.0/fx/checks.py", tests.encode())])))
    c = pycorpus.Corpus(tmp_path / "c", create=True)
    c.add([archive], uploaded_on="2024-01-02")
    c.seal()
    with pytest.raises(ValueError, match="near_duplicates=: expected a Jaccard similarity between 0 and 1, got 1.5"):
        c.export_codesearchnet(tmp_path / "x", near_duplicates=1.5)
    with pytest.raises(ValueError, match="min_doc_tokens=: 300 is more than"):
        c.export_codesearchnet(tmp_path / "x", min_doc_tokens=300)
    with pytest.raises(ValueError, match="chunk=: invalid type"):
        c.export_codesearchnet(tmp_path / "x", chunk="many")
    assert not (tmp_path / "x").exists()
    # defaults: tests are left out
    strict = c.export_codesearchnet(tmp_path / "strict", scenario=None)
    assert sum(strict["records"].values()) == 40 and strict["dropped"].get("test") == 10, strict
    opts = dict(min_code_lines=1, min_doc_tokens=1, keep_tests=True, keep_duplicates=True, near_duplicates=1.0, chunk=7)
    loose = c.export_codesearchnet(tmp_path / "loose", **opts)
    assert sum(loose["records"].values()) == 50, loose
    flags = [a for k, v in opts.items() for a in (["--" + k.replace("_", "-")] if v is True else ["--" + k.replace("_", "-"), str(v)])]
    subprocess.run([binary, "--corpus", str(tmp_path / "c"), "-q", "export", "codesearchnet", str(tmp_path / "cli"), *flags], check=True)
    mine = sorted(p.relative_to(tmp_path / "loose") for p in (tmp_path / "loose").rglob("*.jsonl.gz"))
    theirs = sorted(p.relative_to(tmp_path / "cli") for p in (tmp_path / "cli").rglob("*.jsonl.gz"))
    assert mine == theirs and len(mine) > 3
    assert all((tmp_path / "loose" / p).read_bytes() == (tmp_path / "cli" / p).read_bytes() for p in mine)


def test_errors_keep_their_causes(corpus, tmp_path):
    """A failure says why, not only what: the OS error behind "cannot write"."""
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(pycorpus.PycorpusError, match="[Nn]ot a directory"):
        corpus.export_codesearchnet(tmp_path / "a-file" / "csn")


def test_iter_files_rows_are_read_only_mappings_of_the_index_columns(corpus):
    """A row reads like the dict of files()'s columns it stands for (keys in column order,
    item, attribute, get, in, len, ==, pickle, pandas) and cannot be changed or hashed."""
    import collections.abc
    import pickle
    import pandas as pd
    items = list(corpus.iter_files(ext="py"))
    table = corpus.files(ext="py", skip_reason="none")
    assert len(items) == table.num_rows > 3
    row, data = items[0]
    assert isinstance(row, pycorpus.Row) and isinstance(row, collections.abc.Mapping)
    assert list(row) == list(row.keys()) == table.column_names and len(row) == 15
    d = dict(row)
    assert list(d.values()) == row.values() and list(d.items()) == row.items()
    for k in table.column_names:
        assert row[k] == d[k] == getattr(row, k) == row.get(k) and k in row
    assert row["hash"] == row.hash and len(row.hash) == 40 and row.size == len(data)
    assert row["skip_reason"] is None and isinstance(row["uploaded_on"], str)
    assert row == d and d == row and not (row != d) and row == items[0][0]
    other = dict(d, path=d["path"] + "x")
    assert row != other and row != items[1][0] and row != "not a row" and row != [d]
    assert row == collections.OrderedDict(d)
    for missing in ("nope", 5, None, b"path"):
        assert missing not in row and row.get(missing, "dflt") == "dflt"
        with pytest.raises(KeyError):
            row[missing]
    with pytest.raises(TypeError):
        row["path"] = "x"
    with pytest.raises(AttributeError):
        row.path = "x"
    with pytest.raises(AttributeError, match="'Row' object has no attribute 'nope'"):
        row.nope
    assert not hasattr(row, "nope") and callable(row.keys)  # methods win over keys
    with pytest.raises(TypeError):
        hash(row)
    assert pickle.loads(pickle.dumps(row)) == d
    assert repr(row).startswith("Row({'project_name': ") and repr(row).endswith("})")
    df = pd.DataFrame([r for r, _ in items])
    assert list(df.columns) == table.column_names and df["path"].tolist() == [r.path for r, _ in items]


def test_iter_files_over_many_frames_keeps_every_blob_and_row(tmp_path, built, binary):
    """Frames of 2 KiB, so that the readers decode dozens of frames into buffers they reuse:
    every blob kept until the end still has its own bytes (git blob id re-hashed), and every
    row equals files()'s, column for column, in its column order; the open-shard twin
    (journal reads) gives the same."""
    import datetime
    import hashlib
    import random
    from conftest import Runner, _tar, sdist
    rnd = random.Random(7)
    big = [("file", "many-1.0/many/m%03d.py" % i, ("# %d\n" % i + "x = %r\n" % rnd.getrandbits(4000) * 3).encode()) for i in range(150)]
    archive = tmp_path / "many-1.0.tar.gz"
    archive.write_bytes(_tar(sdist("many", "1.0", big)))
    runs = {}
    for kind in ("sealed", "open"):
        r = Runner(binary, str(tmp_path / kind))
        r.run("init")
        cfg = tmp_path / kind / "corpus.toml"
        cfg.write_text(cfg.read_text().replace("pack_frame_bytes = 6291456", "pack_frame_bytes = 2048"))
        r.run("add", built["archives"], str(archive), "--uploaded-on", "2024-01-02")
        if kind == "sealed":
            r.run("seal")
        c = pycorpus.Corpus(r.corpus)
        items = list(c.iter_files())
        for row, data in items:
            git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            assert git == row["hash"] and len(data) == row["size"], row["path"]
        table = c.files(skip_reason="none")
        expected = table.to_pylist()
        for e in expected:
            e["hash"] = e["hash"].hex()
            e["uploaded_on"] = e["uploaded_on"].astimezone(datetime.timezone.utc)
        got = [dict(r) for r, _ in items]
        for g in got:
            g["uploaded_on"] = datetime.datetime.fromisoformat(g["uploaded_on"].replace("Z", "+00:00"))
        assert all(list(g) == table.column_names for g in got)
        key = lambda r: json.dumps(r, default=str, sort_keys=True)  # noqa: E731  (a release can hold a path twice)
        assert sorted(got, key=key) == sorted(expected, key=key)
        runs[kind] = sorted((r["hash"], r["path"]) for r, _ in items)
    assert runs["sealed"] == runs["open"] and len(runs["sealed"]) > 150
    m = json.load(open(glob.glob(str(tmp_path / "sealed" / "shards" / "0*" / "manifest.json"))[0]))
    assert m["pack_frame_bytes"] == 2048 and m["blob_bytes"] > 100 * 2048, m  # over a hundred frames


def test_grep_extract_analyze_features_export(built, tmp_path):
    import shutil
    shutil.copytree(built["sealed"].corpus, tmp_path / "c")  # analyze writes; the shared corpus stays as it is
    corpus = pycorpus.Corpus(tmp_path / "c")
    hits = corpus.grep(r"def helper", ext="py")
    assert hits and all(h["text"].startswith("def helper") for h in hits)
    assert corpus.grep("DEF HELPER", ignore_case=True, ext="py") == hits
    assert corpus.grep("def helper", project="alpha", version="1.0") and not corpus.grep("no such text anywhere")
    s = corpus.extract(tmp_path / "out", ext="py", unique=True)
    assert s["written"] == len(list(corpus.iter_files(ext="py", unique=True)))
    a = corpus.analyze()
    assert a["analyzed"] >= 10 and a["by_status"].get("ok", 0) >= 10, a
    assert corpus.analyze()["analyzed"] == 0, "a rerun parses nothing new"
    f = corpus.features(view="release", period="year")
    assert f.num_rows > 0 and set(f.column_names) >= {"period", "feature", "units", "with_feature", "percent"}
    assert corpus.features(view="project", period="year").num_rows == f.num_rows
    assert corpus.features(view="parse_status").num_rows >= 1
    with pytest.raises(ValueError, match="view"):
        corpus.features(view="nope")
    e = corpus.export_codesearchnet(tmp_path / "csn")
    files = glob.glob(str(tmp_path / "csn" / "python" / "final" / "jsonl" / "*" / "*.jsonl.gz"))
    assert e["functions"] >= 1 and sum(1 for f in files for _ in gzip.open(f)) == sum(e["records"].values()), e
    with pytest.raises(ValueError, match="scenario"):
        corpus.export_codesearchnet(tmp_path / "x", scenario="poems")


def test_features_are_the_reports_tables(binary, built, tmp_path):
    """Every table of features() equals the one `pycorpus report --parquet` writes for the same
    selection and period (computed in memory, no page or file behind it)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import shutil
    shutil.copytree(built["sealed"].corpus, tmp_path / "c")
    corpus = pycorpus.Corpus(tmp_path / "c")
    corpus.analyze()
    subprocess.run([binary, "--corpus", tmp_path / "c", "report", "-o", tmp_path / "r.html", "--parquet", tmp_path / "t", "--period", "year",
                    "--ext", "py", "--exclude-tests-docs"], check=True, capture_output=True)
    written = sorted(p.stem for p in (tmp_path / "t").glob("*.parquet"))
    # The names known before counting (to refuse a wrong view at once) are the tables made.
    assert sorted(pycorpus._native.NativeCorpus.feature_tables()) == written and "adoption" in written, written
    for name in written:
        want = pq.read_table(tmp_path / "t" / (name + ".parquet"))
        if name == "adoption":
            for view, key in (("release", "release"), ("project", "project_period"), ("file", "file")):
                got = corpus.features(view=view, period="year", ext="py", exclude_tests_docs=True)
                expected = want.filter(pc.equal(want["view"], key)).drop_columns(["view"])
                assert got.num_rows > 0 and got.equals(expected), view
        got = corpus.features(view=name, period="year", ext="py", exclude_tests_docs=True)
        assert got.equals(want), name
    seen = []
    with pytest.raises(ValueError, match="view 'nope': expected release, project, file or one of build_backends"):
        corpus.features(view="nope", progress=lambda *a: seen.append(a))
    assert seen == [], "a wrong view is refused before any counting"
    with pytest.raises(ValueError, match="period"):
        corpus.features(period="decade")


def test_grep_gives_the_clis_matches_as_dicts_and_stops_at_a_limit(binary, corpus, built):
    """The dicts are the CLI's `grep --json --all-paths` lines, in its order; `limit` keeps the
    first lines only."""
    hits = corpus.grep("import|def ", ext="py")
    r = subprocess.run([binary, "--corpus", built["sealed"].corpus, "grep", "--json", "--all-paths", "--ext", "py", "import|def "],
                       capture_output=True, text=True, check=True)
    assert hits == [json.loads(l) for l in r.stdout.splitlines()] and len(hits) > 10
    assert len({h["oid"] for h in hits}) < len({(h["oid"], h["path"]) for h in hits}), "some blob is in several files"
    assert list(hits[0]) == ["oid", "project", "version", "release", "path", "path_in_archive", "line_number", "type", "text"]
    for limit in (0, 1, 7, len(hits), len(hits) + 5):
        assert corpus.grep("import|def ", ext="py", limit=limit) == hits[:limit], limit
    with pytest.raises(ValueError, match="limit: -1 is out of range"):
        corpus.grep("x", limit=-1)


@pytest.mark.parametrize("options", [
    dict(context=1), dict(before_context=2, after_context=1), dict(invert_match=True, max_count=3), dict(word_regexp=True, ignore_case=True),
    dict(fixed_strings=True), dict(word=True),
])
def test_grep_options_are_the_clis_flags(binary, corpus, built, options):
    """Each grep option of the options layer gives, from Python, the lines of the CLI's flag of
    the same name (`word=` is word_regexp's earlier name)."""
    pattern = "(import|def) [a-z]+" if not options.get("fixed_strings") else "def "
    flags = []
    for k, v in options.items():
        k = "word_regexp" if k == "word" else k
        flags += ["--" + k.replace("_", "-")] + ([] if v is True else [str(v)])
    want = cli_json_lines(binary, built["sealed"].corpus, "grep", "--json", "--all-paths", "--ext", "py", *flags, pattern)
    got = corpus.grep(pattern, ext="py", **options)
    assert got == want and want, (options, len(got), len(want))
    if options.get("context") or options.get("before_context"):
        assert {h["type"] for h in got} == {"match", "context"}


def test_extract_analyze_and_report_take_the_clis_options(binary, built, tmp_path):
    """extract's layout, analyze's max_file_bytes and the whole report from Python, each as the
    CLI's flag of the same name does it; a wrong value names the option."""
    import shutil
    shutil.copytree(built["sealed"].corpus, tmp_path / "c")
    corpus = pycorpus.Corpus(tmp_path / "c")
    s = corpus.extract(tmp_path / "tree", layout="tree", project="alpha")
    cli = subprocess.run([binary, "--corpus", tmp_path / "c", "extract", tmp_path / "tree-cli", "--layout", "tree", "--project", "alpha"],
                         capture_output=True, text=True, check=True)
    assert s["written"] == len(cli.stdout.split()) > 0 and tree_digest(tmp_path / "tree") == tree_digest(tmp_path / "tree-cli")
    with pytest.raises(ValueError, match="layout=: unknown variant `flat`, expected `oid` or `tree`"):
        corpus.extract(tmp_path / "x", layout="flat")
    with pytest.raises(ValueError, match="max_file_bytes=: invalid value: integer `-5`"):
        corpus.analyze(max_file_bytes=-5)
    a = corpus.analyze(max_file_bytes=10)
    assert a["by_status"].get("too-large", 0) >= 1, a
    with pytest.raises(pycorpus.PycorpusError, match="no language facts"):
        pycorpus.Corpus(built["sealed"].corpus).report(output=tmp_path / "none.html")
    r = corpus.report(output=tmp_path / "r" / "page.html", csv=tmp_path / "csv", period="year", min_units=1, top=3, ext="py")
    assert pathlib.Path(r["html"]) == tmp_path / "r" / "page.html" and (tmp_path / "r" / "page.html").stat().st_size > 1000, r
    assert list((tmp_path / "r" / "charts").glob("*.svg")) and list((tmp_path / "csv").glob("*.csv"))
    subprocess.run([binary, "--corpus", tmp_path / "c", "report", "-o", tmp_path / "cli" / "page.html", "--csv", tmp_path / "csv-cli", "--period", "year",
                    "--min-units", "1", "--top", "3", "--ext", "py"], check=True, capture_output=True)
    assert tree_digest(tmp_path / "csv") == tree_digest(tmp_path / "csv-cli"), "the same tables"
    with pytest.raises(ValueError, match="no_charts= and charts= exclude each other"):
        corpus.report(no_charts=True, charts=tmp_path / "ch")
    with pytest.raises(ValueError, match="period=: unknown variant `decade`"):
        corpus.report(period="decade")
    with pytest.raises(TypeError, match="unknown filter 'colour'"):
        corpus.report(colour="red")
    with pytest.raises(TypeError, match="add: unknown option.s. 'colour'"):
        corpus.add([], colour="red")
    with pytest.raises(ValueError, match="jobs=: invalid value: integer `-1`"):
        corpus.add([], jobs=-1)


def test_grep_table_is_the_list_as_arrow(corpus):
    """grep_table holds grep's dicts as columns: same rows, same order, same limits; the
    shared fields are dictionaries; no match is an empty table with the same columns."""
    import pyarrow as pa
    hits = corpus.grep("import|def ", ext="py")
    t = corpus.grep_table("import|def ", ext="py")
    assert t.column_names == list(hits[0]) and t.to_pylist() == hits
    assert pa.types.is_dictionary(t.schema.field("oid").type) and t.schema.field("line_number").type == pa.uint64()
    for limit in (0, 1, 7, len(hits) + 5):
        assert corpus.grep_table("import|def ", ext="py", limit=limit).to_pylist() == hits[:limit], limit
    assert corpus.grep_table("DEF ", ignore_case=True, word=True, max_count=1).to_pylist() == corpus.grep("DEF ", ignore_case=True, word=True, max_count=1)
    every = corpus.grep_table("")  # every line of every file
    assert every.to_pylist() == corpus.grep("")
    empty = corpus.grep_table("no such text anywhere")
    assert empty.num_rows == 0 and empty.schema == t.schema
    with pytest.raises(ValueError, match="pattern"):
        corpus.grep_table("(")
    with pytest.raises(TypeError, match="pattern: expected a string"):
        corpus.grep_table(b"x")


def test_grep_table_of_more_lines_than_a_batch(tmp_path):
    """A result of 70,001 lines comes in batches of 65,536 (no column can outgrow its offsets)
    that together are grep's list; limit= cuts inside the second batch."""
    from conftest import _tar, sdist
    lines = "".join("v%d = %d\n" % (i, i) for i in range(70001)).encode()
    archive = tmp_path / "long-1.0.tar.gz"
    archive.write_bytes(_tar(sdist("long", "1.0", [("file", "long-1.0/long/values.py", lines)])))
    c = pycorpus.Corpus(tmp_path / "c", create=True)
    c.add([archive], uploaded_on="2024-01-02")
    t = c.grep_table(r"^v\d+ = ", path="*/values.py")
    assert [b.num_rows for b in t.to_batches()] == [65536, 4465]
    assert t.to_pylist() == c.grep(r"^v\d+ = ", path="*/values.py")
    assert t.column("text")[70000].as_py() == "v70000 = 70000\n"
    assert c.grep_table("^v", limit=65540).num_rows == 65540


def test_add_seal_and_errors(tmp_path, built):
    c = pycorpus.Corpus(tmp_path / "new", create=True)
    s = c.add(built["archives"], uploaded_on="2024-03-04")
    assert s["considered"] == 8 and s["added"] == 7 and s["failed"] == 1, s
    assert [x["kind"] for x in c.shards()] == ["open"]
    c.seal()
    assert [x["kind"] for x in c.shards()] == ["sealed"]
    assert c.status()["total"]["distributions"] == 8
    with pytest.raises(pycorpus.PycorpusError, match=r"not a pycorpus corpus \(no corpus.toml\); Corpus\(path, create=True\) makes one"):
        pycorpus.Corpus(tmp_path / "missing")
    with pytest.raises(TypeError, match="unknown filter 'proj'"):
        c.files(proj="x")
    with pytest.raises(ValueError, match="since="):
        c.files(since="yesterday")
    with pytest.raises(ValueError, match="pattern"):
        c.grep("(")
    with pytest.raises(KeyError):
        c.read("0" * 40)
    with pytest.raises(ValueError, match="blob id"):
        c.read("xyz")
    with pytest.raises(TypeError, match="oid: expected 40 hex digits"):
        c.read(5)
    with pytest.raises(TypeError, match="pattern: expected a string"):
        c.grep(5)
    with pytest.raises(ValueError, match="max_count=: invalid value: integer `-1`"):
        c.grep("x", max_count=-1)
    with pytest.raises(ValueError, match="jobs=: invalid value: integer `-1`"):
        c.sync(["x"], jobs=-1)
    # An index URL that is not one: said before any request, naming where it came from.
    with pytest.raises(pycorpus.PycorpusError, match='"not a url" .from the index_url option. is not an http.s. URL.*; give index_url= or set PIP_INDEX_URL'):
        c.sync(["x"], index_url="not a url", progress=False)


@pytest.mark.parametrize("filters, error, message", [
    ({"ext": 5}, TypeError, "ext=: expected a string or a list of strings, got 5"),
    ({"ext": b"py"}, TypeError, "ext=: expected a string"),
    ({"version": ["1.0", None]}, TypeError, "version=: expected a string or a list of strings"),
    ({"shard": "x"}, TypeError, "shard=: expected a shard number or a list of them, got 'x'"),
    ({"shard": [0, "1"]}, TypeError, "shard=: expected a whole number, got '1'"),
    ({"shard": [0, 1.5]}, TypeError, "shard=: expected a whole number, got 1.5"),
    ({"shard": -1}, ValueError, "shard=: -1 is out of range (0 to 4294967295)"),
    ({"shard": 2 ** 40}, ValueError, "shard=: 1099511627776 is out of range"),
    ({"min_size": -5}, ValueError, "min_size=: -5 is out of range"),
    ({"max_size": 2 ** 70}, ValueError, "max_size=: 1180591620717411303424 is out of range"),
    ({"min_size": True}, TypeError, "min_size=: expected a whole number, got True"),
    ({"min_size": "10k"}, TypeError, "min_size=: expected a whole number, got '10k'"),
    ({"unique": "yes"}, TypeError, "unique=: expected True or False"),
    ({"since": 5}, TypeError, "since=: expected a date"),
    ({"until": "2024-13-45"}, ValueError, "until=: invalid date"),
    ({"projects_file": 3}, TypeError, "projects_file=: expected a path"),
    ({"projects_file": "/nonexistent/projects.txt"}, ValueError, "projects_file=: cannot read"),
    ({"path": "[unclosed"}, ValueError, "path=: invalid glob"),
    ({"skip_reason": "nope"}, ValueError, "skip_reason=: unknown skip reason"),
    ({"dist_type": "rpm"}, ValueError, "dist_type=: unknown distribution type"),
])
def test_a_wrong_filter_is_an_error_naming_it(corpus, filters, error, message):
    """Every call that takes filters checks them the same way, before any work, and the message
    names the filter as the caller spelled it."""
    for call in (corpus.files, lambda **f: corpus.iter_files(**f), lambda **f: corpus.grep("x", **f)):
        with pytest.raises(error) as e:
            call(**filters)
        assert message in str(e.value), str(e.value)


def test_filters_take_dates_tuples_ranges_and_none(corpus):
    import datetime
    every = corpus.files().num_rows
    assert corpus.files(project=None, since=None).num_rows == every  # None: no filter
    assert corpus.files(since=datetime.date(2000, 1, 1), ext=("py",), shard=range(0, 3)).num_rows == corpus.files(ext="py").num_rows > 0
    assert corpus.files(since=datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)).num_rows == 0
    # What a data frame or an Arrow table gives: numpy's and pyarrow's values, generators.
    import numpy as np  # pandas's
    import pyarrow as pa
    shards = corpus.files().column("repository").unique()
    py = corpus.files(ext="py").num_rows
    assert corpus.files(ext=pa.array(["py"]), shard=shards).num_rows == py
    assert corpus.files(ext=np.array(["py"]), shard=np.arange(0, 3), min_size=np.int64(0)).num_rows == py
    assert corpus.files(ext=(e for e in ["py"]), shard=(s.as_py() for s in shards), max_size=shards[0]).num_rows <= py
    assert corpus.files(project=corpus.files().column("project_name").unique()).num_rows == every
    assert len(corpus.grep("def", max_count=np.int64(1), limit=np.int32(2))) == 2


def test_the_default_corpus_folder(tmp_path, built, monkeypatch):
    """Corpus() opens $PYCORPUS_DIR, else ./pycorpus-data, and says which folder is not a corpus."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYCORPUS_DIR", raising=False)
    with pytest.raises(pycorpus.PycorpusError, match="pycorpus-data"):
        pycorpus.Corpus()
    monkeypatch.setenv("PYCORPUS_DIR", built["sealed"].corpus)
    c = pycorpus.Corpus()
    assert c.path == pathlib.Path(built["sealed"].corpus) and c.status()["total"]["distributions"] == 8
    monkeypatch.delenv("PYCORPUS_DIR")
    assert pycorpus.Corpus(create=True).path == pathlib.Path("pycorpus-data") and (tmp_path / "pycorpus-data" / "corpus.toml").exists()


def test_ctrl_c_interrupts_a_long_call(tmp_path):
    """A get() waiting on a peer that never answers stops on SIGINT with KeyboardInterrupt."""
    import socket
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)  # connections complete in the backlog; nothing is ever said
    script = textwrap.dedent("""
        import sys, pycorpus
        print("ready", flush=True)
        try:
            pycorpus.get("a" * 40, datastore=sys.argv[1], peers=[sys.argv[2]], dht=False)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """)
    p = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "d"), "127.0.0.1:%d" % mute.getsockname()[1]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    assert p.poll() is None, p.communicate()
    t = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 3 and "interrupted" in out, (out, err)
    assert time.time() - t < 5
    mute.close()


def test_ctrl_c_stops_a_grep_still_finding_matches(tmp_path):
    """A grep whose matches keep coming (1.6 million lines) hears SIGINT within a fraction of a
    second: KeyboardInterrupt, not the end of the search."""
    from conftest import _tar, sdist
    extra = [("file", "big-1.0/big/m%d.py" % i, b"import os\n" * 20000 + b"# %d\n" % i) for i in range(80)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "big-1.0.tar.gz").write_bytes(_tar(sdist("big", "1.0", extra)))
    pycorpus.Corpus(tmp_path / "c", create=True).add(tmp_path / "in", progress=False)
    script = textwrap.dedent("""
        import sys, time, pycorpus
        c = pycorpus.Corpus(sys.argv[1])
        print("ready", flush=True)
        t = time.time()
        try:
            hits = c.grep("import", progress=False)
            print("finished with %d lines in %.2f s" % (len(hits), time.time() - t), flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """)
    p = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "c")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    t = time.time()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 3 and "interrupted" in out, (out, err)
    assert time.time() - t < 2


def test_ctrl_c_in_iter_files(built):
    script = textwrap.dedent("""
        import sys, time, pycorpus
        c = pycorpus.Corpus(sys.argv[1])
        try:
            for i, (row, data) in enumerate(c.iter_files()):
                if i == 0:
                    print("started", flush=True)
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
    """)
    p = subprocess.Popen([sys.executable, "-c", script, built["sealed"].corpus], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 3 and "interrupted" in out, (out, err)


def test_get_from_a_seed_a_web_seed_and_the_datastore(binary, built, tmp_path):
    [shard] = glob.glob(os.path.join(built["sealed"].corpus, "shards", "[0-9]" * 6))
    torrent = tmp_path / "s.torrent"
    h = pycorpus.create_torrent(shard, torrent)
    assert len(h) == 40 and torrent.exists()
    # A lone string where a list is expected is one item, not its characters.
    assert pycorpus.create_torrent(shard, tmp_path / "w.torrent", webseeds="http://127.0.0.1:9/") == h
    assert b"8:url-listl19:http://127.0.0.1:9/e" in (tmp_path / "w.torrent").read_bytes()
    with pytest.raises(TypeError, match="trackers=: expected a string or a list of strings"):
        pycorpus.create_torrent(shard, trackers=5)
    with pytest.raises(ValueError, match='upload_limit=: rate "-5" is outside 1 byte/s'):
        pycorpus.Seeder([shard], listen="127.0.0.1:0", dht=False, upload_limit=-5)
    # seed(): a Seeder, running until stopped.
    s = pycorpus.seed(shard, listen="127.0.0.1:0", dht=False)
    try:
        assert s.info_hashes == [h] and s.addr.startswith("127.0.0.1:")
    finally:
        s.stop()
    # From a seeder run by the module itself.
    with pycorpus.Seeder([shard], listen="127.0.0.1:0", dht=False, torrent_dir=tmp_path / "served") as s:
        assert s.info_hashes == [h]
        assert (tmp_path / "served" / (h + ".torrent")).read_bytes() == torrent.read_bytes()
        path, rep = pycorpus.get(str(torrent), datastore=tmp_path / "a", peers=[s.addr], dht=False, with_report=True)
        assert rep["peer_bytes"] == rep["total_bytes"] and s.uploaded()[h] >= rep["total_bytes"]
    assert tree_digest(path) == tree_digest(shard)
    # By bare info-hash: the datastore answers at once.
    t = time.time()
    assert pycorpus.get(h, datastore=tmp_path / "a", dht=False) == path and time.time() - t < 3
    # From a web seed alone, the metainfo from a catalog.
    web = RangeServer(os.path.dirname(shard))
    cat = tmp_path / "catalog"
    cat.mkdir()
    pycorpus.create_torrent(shard, cat / (h + ".torrent"), webseeds=[web.url])
    catalog = RangeServer(str(cat))
    try:
        path, rep = pycorpus.get(h, datastore=tmp_path / "b", urls=[catalog.url], dht=False, with_report=True)
    finally:
        web.close()
        catalog.close()
    assert rep["webseed_bytes"] == rep["total_bytes"] and tree_digest(path) == tree_digest(shard)
    with pytest.raises(pycorpus.PycorpusError, match="nothing to ask"):
        pycorpus.get("b" * 40, datastore=tmp_path / "c", dht=False)


def test_get_resumes_after_a_kill(binary, tmp_path):
    share = tmp_path / "data"
    share.mkdir()
    for i in range(3):
        (share / ("%d.bin" % i)).write_bytes(os.urandom(4_000_000))
    torrent = tmp_path / "d.torrent"
    pycorpus.create_torrent(share, torrent)
    slow = CliSeeder(binary, [str(share)], "--upload-limit", "3M")
    script = "import sys, pycorpus; pycorpus.get(sys.argv[1], datastore=sys.argv[2], peers=[sys.argv[3]], dht=False)"
    try:
        p = subprocess.Popen([sys.executable, "-c", script, str(torrent), str(tmp_path / "dl"), slow.addr])
        time.sleep(2.5)
        p.kill()
        p.wait()
    finally:
        slow.stop()
    assert not (tmp_path / "dl" / "data").exists(), "killed before the end: nothing takes the name"
    fast = CliSeeder(binary, [str(share)])
    try:
        path, rep = pycorpus.get(str(torrent), datastore=tmp_path / "dl", peers=[fast.addr], dht=False, with_report=True)
    finally:
        fast.stop()
    assert rep["resumed_bytes"] > 0 and rep["resumed_bytes"] + rep["peer_bytes"] == rep["total_bytes"], rep
    assert tree_digest(path) == tree_digest(share)


def test_scale_out_with_ray_gives_the_single_process_answer(built, tmp_path):
    """Shards are independent: one Ray task per shard, summed, equals one call over the corpus."""
    ray = pytest.importorskip("ray")
    archives = sorted(glob.glob(os.path.join(built["archives"], "*")))
    c = pycorpus.Corpus(tmp_path / "two", create=True)
    c.add(archives[: len(archives) // 2], uploaded_on="2024-01-01")
    c.seal()
    c.add(archives[len(archives) // 2:], uploaded_on="2024-02-01")
    c.seal()
    shards = c.shards()
    assert [s["number"] for s in shards] == [1, 2]

    def per_shard(path, n):
        import pycorpus as pc
        corpus = pc.Corpus(path)
        py_bytes = sum(len(d) for _, d in corpus.iter_files(ext="py", shard=n))
        hits = len(corpus.grep("import|def ", shard=n))
        rows = corpus.files(shard=n).num_rows
        return py_bytes, hits, rows

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(per_shard)
        parts = ray.get([task.remote(str(c.path), s["number"]) for s in shards])
    finally:
        ray.shutdown()
    whole = (sum(len(d) for _, d in c.iter_files(ext="py")), len(c.grep("import|def ")), c.files().num_rows)
    assert all(p[2] > 0 for p in parts), parts
    assert tuple(map(sum, zip(*parts))) == whole, (parts, whole)


def test_sync_from_a_local_index(built, tmp_path):
    """`Corpus.sync` mirrors from a static PEP 503 index on 127.0.0.1, verified by sha256."""
    import hashlib
    import shutil
    root = tmp_path / "index"
    (root / "files").mkdir(parents=True)
    for name in ("alpha-1.0.tar.gz", "alpha-1.1.tar.gz"):
        shutil.copy(os.path.join(built["archives"], name), root / "files" / name)
    (root / "simple" / "alpha").mkdir(parents=True)
    links = "".join('<a href="../../files/%s#sha256=%s">%s</a>\n' % (n, hashlib.sha256((root / "files" / n).read_bytes()).hexdigest(), n)
                    for n in ("alpha-1.0.tar.gz", "alpha-1.1.tar.gz"))
    (root / "simple" / "alpha" / "index.html").write_text("<html><body>\n%s</body></html>\n" % links)
    (root / "simple" / "index.html").write_text('<html><body><a href="alpha/">alpha</a></body></html>\n')
    server = RangeServer(str(root))
    try:
        c = pycorpus.Corpus(tmp_path / "mirror", create=True)
        s = c.sync("alpha", index_url=server.url + "simple/")
        again = c.sync(["alpha"], index_url=server.url + "simple/")
        # the library's check, with what to do in Python's terms
        with pytest.raises(pycorpus.PycorpusError, match="nothing selected: .*; give projects= or lock="):
            c.sync()
        down = c.sync("alpha", index_url="http://127.0.0.1:9/simple/")  # recorded, retried next time
        assert down["failures"] and "127.0.0.1:9" in down["failures"][0]["reason"], down
    finally:
        server.close()
    assert s["add"]["added"] == 2, s
    assert again["add"]["added"] == 0, again
    assert sorted(set(c.files().column("project_release").to_pylist())) == ["alpha-1.0.tar.gz", "alpha-1.1.tar.gz"]


def test_progress_goes_to_a_callable_to_tqdm_or_nowhere(tmp_path, built):
    import shutil
    shutil.copytree(built["sealed"].corpus, tmp_path / "c")
    corpus = pycorpus.Corpus(tmp_path / "c")
    calls = []
    def unique_bytes(**filters):  # the bytes of the selection's blobs, each once
        return sum({r["hash"]: r["size"] for r in corpus.files(skip_reason="none", **filters).to_pylist()}.values())
    a = corpus.analyze(progress=lambda *c: calls.append(c))
    code = unique_bytes(ext=["py", "pyi"])
    assert a["analyzed"] > 0 and calls[-1] == ("analyze", code, code, "bytes"), (calls, a)
    assert all(c[0] == "analyze" and c[3] == "bytes" for c in calls), calls
    assert [c[1] for c in calls] == sorted(c[1] for c in calls), calls
    calls.clear()
    e = corpus.extract(tmp_path / "x", progress=lambda *c: calls.append(c), ext="py")
    assert e["written"] > 0 and calls[-1] == ("extract", e["written_bytes"], e["written_bytes"], "bytes"), (calls, e)
    # grep: bytes of the selection searched, to the selection's total, each blob once (blobs the
    # trigram indexes rule out count as passed, or, when the search index names the candidates'
    # rows, are not in the selection: crates/pycorpus/tests/grep.rs).
    py_bytes = unique_bytes(ext="py")
    for pattern, found, whole in (("\\w+", True, True), ("def helper", True, False), ("zqxj_never_there", False, False)):
        calls.clear()
        assert bool(corpus.grep(pattern, ext="py", progress=lambda *c: calls.append(c))) == found
        last = calls[-1] if calls else ("grep", 0, 0, "bytes")
        assert last[0] == "grep" and last[3] == "bytes" and last[1] == last[2] <= py_bytes, (pattern, calls)
        assert last[2] == py_bytes or not whole, (pattern, calls)
        assert [c[1] for c in calls] == sorted(c[1] for c in calls), calls
    calls.clear()
    fresh = pycorpus.Corpus(tmp_path / "new", create=True)
    s = fresh.add(built["archives"], progress=lambda *c: calls.append(c))
    assert calls and calls[-1][0] == "add" and calls[-1][2] == s["considered"], (calls, s)
    # Quiet, and a wrong kind of argument.
    assert corpus.analyze(progress=False)["analyzed"] == 0
    with pytest.raises(TypeError, match="progress"):
        corpus.analyze(progress="yes")

    # An exception raised by the callable stops the call (here a get() that would wait forever).
    import socket
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)

    def stop(*c):
        raise RuntimeError("enough: %r" % (c,))
    t = time.time()
    with pytest.raises(RuntimeError, match="enough: .'get', 0, None, 'bytes'"):
        # (times too large for a duration, or not numbers, are no crash either)
        pycorpus.get("c" * 40, datastore=tmp_path / "d", peers=["127.0.0.1:%d" % mute.getsockname()[1]], dht=False, progress=stop,
                     webseed_after=float("nan"), stall_timeout=float("inf"))
    assert time.time() - t < 10
    mute.close()
    with pytest.raises(RuntimeError, match="enough: .'grep', [0-9]+, [0-9]+, 'bytes'"):
        corpus.grep("def", progress=stop)

    # progress=True: a tqdm bar (tqdm is in tests/requirements.txt), on stderr.
    pytest.importorskip("tqdm")
    script = "import sys, pycorpus; print(pycorpus.Corpus(sys.argv[1]).export_codesearchnet(sys.argv[2], progress=True)['functions'])"
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "c"), str(tmp_path / "csn")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and int(r.stdout) > 0, r
    assert re.search(r"export: 100%\|.*\| (\S+)/\1 .*B/s", r.stderr), r.stderr  # bytes, to the total
    # In a Jupyter kernel (IPython's config names the kernel app), the default is a tqdm bar.
    script = textwrap.dedent("""
        import sys, types
        shell = types.SimpleNamespace(config={"IPKernelApp": {}})
        sys.modules["IPython"] = types.SimpleNamespace(get_ipython=lambda: shell)
        import pycorpus
        pycorpus.Corpus(sys.argv[1]).extract(sys.argv[2])
    """)
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "c"), str(tmp_path / "y")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and re.search(r"extract: 100%\|.*\| (\S+)/\1 .*B/s", r.stderr), r  # bytes, to the total
    r = subprocess.run([sys.executable, "-c", script.replace("IPKernelApp", "TerminalIPythonApp"), str(tmp_path / "c"), str(tmp_path / "z")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stderr == "", r  # not a kernel, not a terminal: quiet


def test_iter_files_shows_progress_in_bytes_and_stops_on_the_callables_exception(corpus, built):
    calls = []
    it = corpus.iter_files(ext="py", progress=lambda *c: calls.append(c))
    items = list(it)
    total = sum({r["hash"]: len(d) for r, d in items}.values())  # each blob once, however many rows
    assert len({r["hash"] for r, _ in items}) < len(items), "some blob is held by several rows"
    assert total > 0 and calls[-1] == ("iter_files", total, total, "bytes"), calls
    assert all(c[0] == "iter_files" and c[3] == "bytes" for c in calls), calls
    assert [c[1] for c in calls] == sorted(c[1] for c in calls), calls
    # Exhausted: more next() calls end at once, and the callable hears nothing more.
    n = len(calls)
    with pytest.raises(StopIteration):
        next(it)
    assert len(calls) == n
    calls.clear()
    assert len(list(corpus.iter_files(ext="py", unique=True, progress=lambda *c: calls.append(c)))) < len(items)
    assert calls[-1] == ("iter_files", total, total, "bytes"), calls

    def stop(*c):
        raise RuntimeError("enough: %r" % (c,))
    seen = []
    with pytest.raises(RuntimeError, match="enough: .'iter_files', [0-9]+, [0-9]+, 'bytes'"):
        for row, _ in corpus.iter_files(progress=stop):
            seen.append(row)
    assert len(seen) < corpus.files(skip_reason="none").num_rows
    # The native iterator under it ends there too: nothing of the batch it held comes after.
    native = corpus._c.iter_files(pycorpus._filters({}), stop)
    with pytest.raises(RuntimeError, match="enough"):
        next(native)
    with pytest.raises(StopIteration):
        next(native)
    # Wrong arguments raise at the call, before any item is asked for.
    with pytest.raises(TypeError, match="progress"):
        corpus.iter_files(progress="yes")
    with pytest.raises(TypeError, match="colour"):
        corpus.iter_files(colour="red")
    assert list(corpus.iter_files(project="nothing-like-this", progress=False)) == []


def test_iter_files_over_a_damaged_pack_raises_and_ends(built, tmp_path):
    """Frames garbled past the first third of blobs.pack: the iteration raises PycorpusError
    naming the file, not a crash or a hang, and the iterator ends there."""
    import shutil
    shutil.copytree(built["sealed"].corpus, tmp_path / "c")
    [pack] = glob.glob(str(tmp_path / "c" / "shards" / "0*" / "blobs.pack"))
    data = bytearray(open(pack, "rb").read())
    for i in range(len(data) // 3, len(data) - 16):
        data[i] ^= 0x5A
    open(pack, "wb").write(bytes(data))
    c = pycorpus.Corpus(tmp_path / "c")
    with pytest.raises(pycorpus.PycorpusError, match="blobs.pack"):
        for _ in c.iter_files(progress=False):
            pass
    native = c._c.iter_files(pycorpus._filters({}), False)
    with pytest.raises(pycorpus.PycorpusError, match="blobs.pack"):
        while True:
            next(native)
    with pytest.raises(StopIteration):
        next(native)


def _on_a_pty(cmd, stdout_too=False, stdout=None):
    """Runs `cmd` with stderr (and stdout, if asked) on a pseudo-terminal: (return code, what
    the terminal showed, stdout when it was a pipe). `stdout`: a file to write stdout to."""
    import pty
    import select
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=slave if stdout_too else stdout or subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown = b""
    while True:
        if select.select([master], [], [], 60)[0] == []:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    out, _ = p.communicate(timeout=60)
    return p.returncode, shown, out


def test_iter_files_draws_a_bar_in_a_terminal_and_in_tqdm(built):
    """Default progress: a bar on stderr when it is a terminal (a pty here), cleared at the end;
    progress=True: tqdm's."""
    script = textwrap.dedent("""
        import sys, time, pycorpus
        n = 0
        for row, data in pycorpus.Corpus(sys.argv[1]).iter_files(progress=sys.argv[2] == "tqdm" or None):
            n += 1
            time.sleep(0.3 if n == 1 else 0)
        print(n)
    """)
    code, shown, out = _on_a_pty([sys.executable, "-c", script, built["sealed"].corpus, "bar"])
    assert code == 0 and int(out) > 0
    assert b"iter_files [" in shown and b"B/" in shown, shown
    pytest.importorskip("tqdm")
    r = subprocess.run([sys.executable, "-c", script, built["sealed"].corpus, "tqdm"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and int(r.stdout) > 0, r
    assert "iter_files: 100%" in r.stderr, r.stderr


def test_cli_grep_stream_and_extract_draw_a_bar_when_their_output_goes_to_a_file(binary, built, tmp_path):
    """The command line's bar for commands that read blobs: on stderr when it is a terminal and
    stdout a file (not a terminal, nor a pipe to a pager on the same terminal), never with
    --quiet."""
    corpus = built["sealed"].corpus
    bar = lambda phase: re.compile(rb"%s \[[=> ]+\] [0-9.]+ [KMG]?i?B/" % phase.encode())
    for args in (["grep", "def"], ["stream", "--ext", "py"], ["extract", str(tmp_path / "x")]):
        with open(tmp_path / "out", "wb") as f:
            code, shown, _ = _on_a_pty([binary, "--corpus", corpus, *args], stdout=f)
        assert code == 0 and (tmp_path / "out").stat().st_size > 0, (args, code)
        assert bar(args[0]).search(shown), (args, shown)
        with open(tmp_path / "out", "wb") as f:
            code, shown, _ = _on_a_pty([binary, "--corpus", corpus, "--quiet", *args], stdout=f)
        assert code == 0 and b"[" not in shown, (args, shown)
        code, shown, out = _on_a_pty([binary, "--corpus", corpus, *args])  # a pipe
        assert code == 0 and not bar(args[0]).search(shown), (args, shown)
        code, shown, _ = _on_a_pty([binary, "--corpus", corpus, *args], stdout_too=True)
        assert code == 0 and not bar(args[0]).search(shown), (args, shown)
    # analyze's results come at the end: its bar is drawn whatever stdout is.
    import shutil
    shutil.copytree(corpus, tmp_path / "c")
    code, shown, _ = _on_a_pty([binary, "--corpus", str(tmp_path / "c"), "analyze"], stdout_too=True)
    assert code == 0 and re.search(rb"analyze \[[=> ]+\] [0-9.]+ [KMG]?i?B/", shown) and b"analyzed " in shown, shown


def test_the_readme_python_example_runs(binary, built, tmp_path):
    """The README's "From Python" block, run as written in a fresh folder, after changing only
    the addresses: the corpus (`pycorpus-data`) is generated here, the torrent is one of its
    shards behind a local catalog and web seed, the seeder listens on loopback without DHT."""
    from conftest import Runner, _tar, sdist
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    code = readme.split("## From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    extra = [("file", "sec-1.0/sec/load.py", b"import pickle\n\nasync def load(blob):\n    \"\"\"Loads a blob.\"\"\"\n    return pickle.loads(blob)\n")]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "sec-1.0.tar.gz").write_bytes(_tar(sdist("sec", "1.0", extra)))
    r = Runner(binary, str(tmp_path / "pycorpus-data"))
    r.run("init")
    r.run("add", built["archives"], str(tmp_path / "in"), "--uploaded-on", "2024-06-01")
    r.run("seal")
    [shard] = glob.glob(str(tmp_path / "pycorpus-data" / "shards" / ("[0-9]" * 6)))
    web = RangeServer(os.path.dirname(shard))
    (tmp_path / "catalog").mkdir()
    h = pycorpus.create_torrent(shard, tmp_path / "catalog" / "x.torrent", webseeds=[web.url])
    os.rename(tmp_path / "catalog" / "x.torrent", tmp_path / "catalog" / (h + ".torrent"))
    catalog = RangeServer(str(tmp_path / "catalog"))
    try:
        for old, new in {
            '"5f0f7c...e1"': repr(h),
            'catalogs=["https://example.invalid/torrents"])': "catalogs=[%r], dht=False)" % catalog.url,
            "pycorpus.Seeder([path])": 'pycorpus.Seeder([path], listen="127.0.0.1:0", dht=False)',
        }.items():
            assert old in code, "the README example changed: update this test (%s)" % old
            code = code.replace(old, new)
        code += "\nassert len(df) > 0 and async_defs >= 1 and uses_async and b'pickle.loads' in source, (len(df), async_defs, uses_async)\nprint('ok', path)\n"
        p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        web.close()
        catalog.close()
    assert p.returncode == 0 and "ok" in p.stdout, (p.stdout, p.stderr)
    assert tree_digest(str(tmp_path / "data" / os.path.basename(shard))) == tree_digest(shard)
    assert glob.glob(str(tmp_path / "csn" / "python" / "final" / "jsonl" / "*" / "*.jsonl.gz"))


def test_the_type_stubs_name_every_parameter_of_the_api():
    """__init__.pyi and the code agree on each public function's parameters, in order (the
    stubs spell out the filters that the code takes as **filters)."""
    import ast
    import inspect
    stub = ast.parse(open(os.path.join(os.path.dirname(pycorpus.__file__), "__init__.pyi"), encoding="utf-8").read())
    filters = set(pycorpus._FILTERS)
    assert filters == {name for name, _ in pycorpus._native.filters()} and "min_size" in filters
    listed = []

    # Each function that takes a command's options spells them out as keyword-only arguments,
    # in the order of the one definition (the options struct the CLI's flags come from too).
    commands = {("Corpus", "add"): "add", ("Corpus", "sync"): "sync", ("Corpus", "grep"): "grep", ("Corpus", "grep_table"): "grep",
                ("Corpus", "extract"): "extract", ("Corpus", "analyze"): "analyze", ("Corpus", "report"): "report",
                ("Corpus", "export_codesearchnet"): "export_codesearchnet", ("Corpus", "get"): "get", ("Corpus", "seed"): "seed",
                (None, "get"): "get", ("Seeder", "__init__"): "seed", (None, "create_torrent"): "create_torrent",
                ("Corpus", "deps"): "deps", ("Corpus", "secrets"): "secrets"}
    stubs = {}
    for node in stub.body:
        if isinstance(node, ast.ClassDef):
            stubs.update({(node.name, f.name): f for f in node.body if isinstance(f, ast.FunctionDef)})
        elif isinstance(node, ast.FunctionDef):
            stubs[(None, node.name)] = node  # of get's overloads, the last
    own = {}
    for (cls, fn), cmd in commands.items():
        a = stubs[(cls, fn)].args
        names = [o for o, _ in pycorpus._native.options(cmd)]
        own[(cls, fn)] = set(names)
        positional = [x.arg for x in a.args]
        spelled = [x.arg for x in a.kwonlyargs if x.arg in names]
        assert spelled == [o for o in names if o not in positional], (cls, fn, spelled)
        assert {x.arg for x in a.kwonlyargs} - set(names) <= filters | {"with_report", "progress"}, (cls, fn)

    def stub_params(fn, key):
        mine = own.get(key, set())
        stub_filters = [x.arg for x in fn.args.kwonlyargs if x.arg in filters and x.arg not in mine]
        if stub_filters:
            listed.append((fn.name, stub_filters))
        a = fn.args
        names = [x.arg for x in a.posonlyargs + a.args if x.arg != "self"] + [x.arg for x in a.kwonlyargs if x.arg not in filters | mine]
        return names + (["**"] if a.kwarg else [])

    def code_params(obj):
        out = []
        for p in inspect.signature(obj).parameters.values():
            if p.kind == p.VAR_KEYWORD:
                out.append("**")
            elif p.name != "self":
                out.append(p.name)
        return out
    checked = 0
    for node in stub.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            want = code_params(getattr(pycorpus, node.name))
            got = stub_params(node, (None, node.name))
            # **filters in the code: the stub may list the filters instead
            assert got == want or got + ["**"] == want, (node.name, got, want)
            checked += 1
        elif isinstance(node, ast.ClassDef) and hasattr(pycorpus, node.name) and node.name != "PycorpusError":
            cls = getattr(pycorpus, node.name)
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and (not fn.name.startswith("_") or fn.name == "__init__") and not any(
                        isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
                    if fn.name in ("__enter__", "__exit__"):
                        continue
                    want, got = code_params(getattr(cls, fn.name)), stub_params(fn, (node.name, fn.name))
                    assert got == want or got + ["**"] == want, (node.name, fn.name, got, want)
                    checked += 1
    assert checked >= 20, checked
    # where a stub spells out the filters, it spells out every one of them, in their order
    order = [name for name, _ in pycorpus._native.filters()]
    assert listed and all(names == order for _, names in listed), listed


def test_the_module_benchmarks_refuse_a_debug_build(tmp_path):
    """The test command installs the module with the dev profile (several times slower): the
    benchmarks of the module say so and stop before timing anything or writing a run; a release
    build gets past the check (and here stops at the missing corpus, also writing nothing)."""
    debug = pycorpus._native.DEBUG_BUILD
    assert isinstance(debug, bool)
    runs = os.path.join(ROOT, "bench", "runs")
    before = sorted(glob.glob(os.path.join(runs, "*", "*")))
    for script in ("iter_files.py", "module_grep.py"):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", script), "--work", str(tmp_path), "--repeat", "1"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode != 0, (script, r.stdout, r.stderr)
        refused = "is a debug build, as the test command installs it; run `pip install .` in the checkout" in r.stderr
        assert refused == debug, (script, r.stderr)
        if debug:
            assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr, (script, r.stdout, r.stderr)
    assert sorted(glob.glob(os.path.join(runs, "*", "*"))) == before


def test_corpus_get_fetches_a_shard_and_the_shards_it_uses(binary, tmp_path):
    """Python parity with `pycorpus get` into a corpus: the shard is registered, the shards whose
    blobs it uses are named (and readers name what is missing, in Python's terms), and with
    `with_deps=True` they arrive too; seeded by `Corpus.seed()`, checked by `verify()` and
    `lock()`."""
    from conftest import _tar, sdist

    core, new, more = b"def core():\n    return 'core'\n", b"def new():\n    return 'new'\n", b"def more():\n    return 'more'\n"
    pub = pycorpus.Corpus(tmp_path / "publisher", create=True)
    for version, files in (("1.0", [core]), ("1.1", [core, new]), ("1.2", [new, more])):
        archive = tmp_path / ("a-%s.tar.gz" % version)
        archive.write_bytes(_tar(sdist("a", version, [("file", "a-%s/a/m%d.py" % (version, i), f) for i, f in enumerate(files)])))
        pub.add(archive, uploaded_on="2024-01-1" + version[-1], progress=False)
        pub.seal()
    shards = {s["path"].name: s["path"] for s in pub.shards()}
    hashes = {n: pycorpus.create_torrent(p) for n, p in shards.items()}
    with pub.seed(listen="127.0.0.1:0", dht=False) as seeder:
        assert sorted(seeder.info_hashes) == sorted(hashes.values())
        alone = pycorpus.Corpus(tmp_path / "alone", create=True)
        r = alone.get(hashes["000003"], peers=seeder.addr, dht=False, progress=False)
        assert [f["name"] for f in r["fetched"]] == ["000003"] and r["missing"] == [1, 2], r
        assert r["fetched"][0]["registered_distributions"] == 1
        with pytest.raises(pycorpus.PycorpusError, match="uses blobs stored in shard 000001.*; fetch it with Corpus.get.HASH, with_deps=True."):
            alone.grep("def ")
        assert alone.verify(progress=False)["problems"]
        r = alone.get(hashes["000003"], peers=[seeder.addr], dht=False, with_deps=True, progress=False)
        assert sorted(f["name"] for f in r["fetched"]) == ["000001", "000002", "000003"] and r["missing"] == [], r
        # into a plain datastore: the same report, the dependencies beside it
        path, report = pycorpus.get(hashes["000003"], datastore=tmp_path / "ds", peers=seeder.addr, dht=False, with_deps=True,
                                    with_report=True, progress=False)
        assert path.name == "000003" and sorted(d["name"] for d in report["dependencies"]) == ["000001", "000002"]
        assert report["missing_shards"] == [] and report["registered_distributions"] is None
    assert alone.grep("def ") == pub.grep("def ") and len(pub.grep("def ")) >= 5
    assert alone.verify(progress=False)["problems"] == [] and alone.lock() == pub.lock()
    assert alone.upgrade(progress=False)["shards_rewritten"] == 0
    pub.lock(tmp_path / "corpus.lock")
    assert (tmp_path / "corpus.lock").read_text() == pub.lock() and pub.lock().count("\n") == 4
    with pytest.raises(pycorpus.PycorpusError, match="cannot go into the corpus: it is not a pycorpus shard"):
        plain = tmp_path / "plain"
        plain.mkdir()
        (plain / "x.txt").write_text("x")
        pycorpus.create_torrent(plain, tmp_path / "plain.torrent")
        alone.get(tmp_path / "plain.torrent", dht=False, progress=False)
    with pytest.raises(ValueError, match=r'peers=: "nowhere" is not IP:PORT'):
        alone.get(hashes["000001"], peers="nowhere")
    with pytest.raises(TypeError, match="get: unknown option.s. 'colour'"):
        alone.get(hashes["000001"], colour="red")
    with pytest.raises(pycorpus.PycorpusError, match="has no sealed shard to seed"):
        pycorpus.Corpus(tmp_path / "empty", create=True).seed(listen="127.0.0.1:0", dht=False)
