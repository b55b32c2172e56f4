"""The Parquet index agrees with an independent reading, and loads in pyarrow and DuckDB."""
import csv
import glob
import io
import json
import os
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["project_name", "project_version", "project_release", "uploaded_on", "path", "archive_path", "size", "hash",
           "skip_reason", "lines", "repository", "dist_sha256", "dist_type", "entry_type", "link_target"]


def test_index_agrees_with_python_oracle(built):
    r = subprocess.run([sys.executable, os.path.join(HERE, "oracle.py"), built["sealed"].corpus, built["archives"]], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 problem(s)" in r.stdout
    # every skip reason of the rules was exercised by the generated corpus
    for reason in ("binary", "empty", "too-large", "version-control", "virtualenv", "text-long-lines", "symlink", "hardlink", "stored"):
        assert reason in r.stdout, (reason, r.stdout)


def test_oracle_detects_a_wrong_index(built, tmp_path):
    """The comparison can fail: feed it one archive too many."""
    extra = tmp_path / "zeta-9.0.zip"
    import zipfile
    with zipfile.ZipFile(extra, "w") as zf:
        zf.writestr("zeta-9.0/x.py", "x = 1\n")
    r = subprocess.run([sys.executable, os.path.join(HERE, "oracle.py"), built["sealed"].corpus, built["archives"], str(extra)], capture_output=True, text=True)
    assert r.returncode == 1 and "missing from releases.parquet" in r.stdout


def test_parquet_schema_in_pyarrow(built):
    [shard] = glob.glob(os.path.join(built["sealed"].corpus, "shards", "[0-9]" * 6))
    t = pq.read_table(os.path.join(shard, "files.parquet"))
    assert t.column_names == COLUMNS
    assert t.schema.field("hash").type == pa.binary(20)
    assert t.schema.field("uploaded_on").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("size").type == pa.uint64()
    df = t.to_pandas()
    assert (df["project_release"] == "odd-1.0.tar.gz").sum() > 20
    rel = pq.read_table(os.path.join(shard, "releases.parquet")).to_pylist()
    by = {r["project_release"]: r for r in rel}
    assert by["broken-1.0.tar.gz"]["status"] == "failed" and by["broken-1.0.tar.gz"]["error"].startswith("corrupt")
    assert by["alpha-1.0.tar.gz"]["metadata_name"] == "alpha" and by["alpha-1.0.tar.gz"]["file_count"] == 5
    assert by["alpha-1.0.tar.gz"]["project_urls"] == [("Source", "https://src.test/alpha")]
    manifest = json.load(open(os.path.join(shard, "manifest.json")))
    assert manifest["files"] == t.num_rows


def test_duckdb_queries(built):
    corpus = built["sealed"].corpus
    con = duckdb.connect()
    files = os.path.join(corpus, "shards", "*", "files.parquet")
    rels = os.path.join(corpus, "shards", "*", "releases.parquet")
    n, uniq = con.execute("SELECT count(*), count(DISTINCT hash) FILTER (WHERE skip_reason IS NULL) FROM read_parquet(?)", [files]).fetchone()
    status = json.loads(built["sealed"].run("status", "--format", "jsonl").stdout)
    assert n == status["total"]["files"]
    assert uniq == status["total"]["unique_blobs"]
    rows = con.execute(
        "SELECT r.project_name, count(*) FROM read_parquet(?) f JOIN read_parquet(?) r USING (dist_sha256) "
        "WHERE f.path LIKE '%/pyproject.toml' GROUP BY 1 ORDER BY 1", [files, rels]).fetchall()
    assert rows == [("alpha", 2), ("beta", 1), ("delta", 1), ("gamma", 1), ("odd", 1)]
    [(keys,)] = con.execute("SELECT map_keys(project_urls) FROM read_parquet(?) WHERE project_release = 'alpha-1.0.tar.gz'", [rels]).fetchall()
    assert keys == ["Source"]


def test_open_and_sealed_shards_answer_alike(built):
    a = built["sealed"].run("ls", "--format", "jsonl").stdout.splitlines()
    b = built["open"].run("ls", "--format", "jsonl").stdout.splitlines()
    strip = lambda rows: sorted(json.dumps({k: v for k, v in json.loads(r).items()}, sort_keys=True) for r in rows)
    assert strip(a) == strip(b)
    for who in ("sealed", "open"):
        v = built[who].run("verify", "--format", "jsonl")
        assert json.loads(v.stdout)["problems"] == []


def test_machine_formats_parse(built):
    s = built["sealed"]
    rows = list(csv.DictReader(io.StringIO(s.run("ls", "--format", "csv").stdout)))
    assert list(rows[0].keys()) == COLUMNS
    assert len(rows) == len(s.run("ls", "--format", "jsonl").stdout.splitlines())
    st = list(csv.DictReader(io.StringIO(s.run("status", "--format", "csv").stdout)))
    assert st[-1]["shard"] == "total" and int(st[-1]["distributions"]) == 8
    v = list(csv.DictReader(io.StringIO(s.run("verify", "--format", "csv").stdout)))
    assert v == []


def test_cat_round_trips_every_stored_blob(built):
    s = built["sealed"]
    for line in s.run("ls", "--format", "jsonl", "--skip-reason", "none", "--unique").stdout.splitlines():
        row = json.loads(line)
        data = subprocess.run([s.binary, "--corpus", s.corpus, "cat", row["hash"]], capture_output=True, check=True).stdout
        import hashlib
        assert hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest() == row["hash"]
        assert len(data) == row["size"]
