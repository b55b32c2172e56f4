"""bench/scale.py at a tiny scale: the generator is deterministic, meets its row target, makes
releases that differ a little from the one before, serves the index the way the client reads
it, and `pycorpus sync --all` mirrors it (then fetches only the new releases). The whole
--quick run is CI's job, not this file's."""
import hashlib
import json
import os
import re
import shutil
import sys
import sysconfig
import tarfile
import urllib.parse
import urllib.request
import zipfile

import pytest

from conftest import Runner

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))
import scale  # noqa: E402  (bench/scale.py)

UNIT = 2000
SEED = "7"
STDLIB_PACKAGES = ["json", "email", "http", "urllib", "logging", "concurrent", "importlib", "xml", "asyncio", "collections",
                   "sqlite3", "wsgiref", "html", "dbm", "tomllib", "zoneinfo", "unittest", "ctypes", "curses", "multiprocessing"]


def quiet(*_a):
    pass


@pytest.fixture(scope="session")
def source(tmp_path_factory):
    """A small tree of real Python files (some standard library packages), carved into templates."""
    d = tmp_path_factory.mktemp("source")
    stdlib = sysconfig.get_paths()["stdlib"]
    for p in STDLIB_PACKAGES:
        if os.path.isdir(os.path.join(stdlib, p)):
            shutil.copytree(os.path.join(stdlib, p), str(d / p), ignore=shutil.ignore_patterns("__pycache__"))
    return str(d)


def generate(source, work, seed=SEED, unit=UNIT):
    return scale.generate_site(source, str(work), 1, unit, seed=seed, churn=0.05, level=1, jobs=2, log=quiet)


@pytest.fixture(scope="session")
def site(source, tmp_path_factory):
    return generate(source, tmp_path_factory.mktemp("work"))


def archive_digests(site):
    out = {}
    for root, _, files in os.walk(site.files_dir):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                out[os.path.relpath(os.path.join(root, f), site.files_dir)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def members(path):
    """{path inside the release (top folder or nothing stripped): contents}."""
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    with tarfile.open(path) as tf:
        return {m.name.split("/", 1)[1]: tf.extractfile(m).read() for m in tf if m.isfile()}


def projects(site):
    with open(os.path.join(site.path, "projects.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_same_seed_same_archives(site, source, tmp_path):
    again = generate(source, tmp_path / "again")
    a, b = archive_digests(site), archive_digests(again)
    assert a and a == b
    other = generate(source, tmp_path / "other", seed="8")
    assert archive_digests(other) != a


def test_rows_meet_the_target(site):
    m = site.manifest
    assert abs(m["rows"] - UNIT) <= 0.05 * UNIT, m["rows"]
    counted = sum(len(members(p)) for p, _ in site.archives(1))
    assert counted == m["rows"]
    assert m["files"] == len(site.archives(1)) and m["phase2_files"] == len(site.archives(2)) >= 2
    for path, sha in site.archives(1)[:50]:
        with open(path, "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == sha
    assert m["projects"] > 10 and m["max_releases"] >= 3


def test_releases_change_a_little(site):
    p = max(projects(site), key=lambda p: len(p["files"]))
    sdists = [r for r in p["files"] if r["packagetype"] == "sdist" and r["phase"] == 1]
    assert len(sdists) >= 3
    prev = None
    for r in sdists:
        files = members(os.path.join(site.files_dir, p["name"], r["filename"]))
        pkg_info = files["PKG-INFO"].decode()
        assert "\nVersion: %s\n" % r["version"] in pkg_info and "\nName: %s\n" % p["name"] in pkg_info
        versions = [m.group(1).decode() for d in files.values() for m in re.finditer(rb"""__version__\s*=\s*['"]([^'"]*)['"]""", d)]
        assert r["version"] in versions
        if prev is not None:
            same = sum(1 for k, v in files.items() if prev.get(k) == v)
            assert same < len(files), "a release must change something"
            assert same >= 0.5 * len(files), (same, len(files))
        prev = files
    times = [r["upload_time"] for r in sdists]
    assert times == sorted(times) and scale.T_START <= times[0] and times[-1] <= scale.T_END


def test_projects_have_their_own_blobs(site):
    """Templates are shared by projects, but the package is renamed and the text rewritten."""
    owners = {}
    for p in projects(site):
        first = next(r for r in p["files"] if r["packagetype"] == "sdist")
        for name, data in members(os.path.join(site.files_dir, p["name"], first["filename"])).items():
            if name.endswith(".py"):
                owners.setdefault(hashlib.sha1(data).digest(), set()).add(p["name"])
    shared = sum(1 for o in owners.values() if len(o) > 1)
    assert shared <= 0.05 * len(owners), (shared, len(owners))


def get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req) as r:
        return r.headers.get("Content-Type"), r.read()


def test_served_index(site):
    server = scale.IndexServer(site).start()
    try:
        base = server.url  # .../simple/
        ctype, body = get(base, scale.JSON_TYPE)
        assert ctype == scale.JSON_TYPE
        root = json.loads(body)
        assert root["meta"]["api-version"] == "1.1" and len(root["projects"]) == site.manifest["projects"]
        serial1 = {p["name"]: p["_last-serial"] for p in root["projects"]}
        ctype, body = get(base, "text/html")
        assert ctype.startswith("text/html") and body.count(b"<a ") == len(serial1)
        p = next(p for p in projects(site) if p["serial2"])
        ctype, body = get(base + p["name"] + "/", scale.JSON_TYPE)
        page = json.loads(body)
        assert ctype == scale.JSON_TYPE and {f["filename"] for f in page["files"]} == {r["filename"] for r in p["files"] if r["phase"] == 1}
        _, body = get(base + p["name"] + "/", "text/html")
        assert body.count(b"#sha256=") == len(page["files"])
        api_url = base.replace("/simple/", "/pypi/%s/json" % p["name"])
        ctype, body = get(api_url, "application/json")
        api = json.loads(body)
        assert api["last_serial"] == serial1[p["name"]] and api["info"]["name"] == p["name"]
        f = api["releases"][api["info"]["version"]][0]
        _, data = get(urllib.parse.urljoin(api_url, f["url"]))
        assert hashlib.sha256(data).hexdigest() == f["digests"]["sha256"] and len(data) == f["size"]
        # the second-sync releases appear, and their projects' serials grow
        server.set_phase(2)
        root2 = {q["name"]: q["_last-serial"] for q in json.loads(get(base, scale.JSON_TYPE)[1])["projects"]}
        assert root2[p["name"]] > max(serial1.values())
        assert sum(root2[n] != s for n, s in serial1.items()) == site.manifest["phase2_projects"]
        api2 = json.loads(get(api_url)[1])
        assert len(api2["releases"]) == len(api["releases"]) + 1 and api2["last_serial"] == root2[p["name"]]
    finally:
        server.stop()


def test_sync_mirrors_the_served_index(site, binary, tmp_path):
    m = site.manifest
    server = scale.IndexServer(site).start()
    try:
        c = Runner(binary, str(tmp_path / "corpus"))
        c.run("init")
        first = json.loads(c.run("--quiet", "sync", "--all", "--index-url", server.url, "--json").stdout)
        assert first["downloaded"] == m["files"] and not first["failures"]
        total = json.loads(c.run("status", "--format", "jsonl").stdout)["total"]
        assert total["distributions"] == m["files"] and total["failed"] == 0
        assert total["files"] == m["rows"]
        server.set_phase(2)
        second = json.loads(c.run("--quiet", "sync", "--all", "--index-url", server.url, "--json").stdout)
        assert second["downloaded"] == m["phase2_files"]
        assert second["unchanged_projects"] == m["projects"] - m["phase2_projects"]
    finally:
        server.stop()


def test_flat_memory_check():
    def res(**rss):
        return {k: {"ok": True, "peak_rss_mb": v} for k, v in rss.items()}
    results = {"1": {"steps": res(export=100, report=40, stream=30)}, "2": {"steps": res(export=190, report=58, stream=30)}}
    by = {c["step"]: c for c in scale.check_flat_memory(results)}
    assert by["export"]["ok"] is False and by["export"]["limit"] == 133.0
    assert by["report"]["ok"] is True and by["stream"]["ok"] is True
    results["2"]["steps"]["stream"]["ok"] = False
    assert {c["step"]: c for c in scale.check_flat_memory(results)}["stream"]["ok"] is None


def test_steps_and_settings():
    assert scale.parse_steps("grep,ls") == ["grep-rare", "grep-common", "grep-regex", "ls"]
    assert scale.parse_steps("") == list(scale.OPTIONAL_STEPS)
    with pytest.raises(SystemExit):
        scale.parse_steps("nope")
    # same shard capacity at every scale: 4 shards of a 1x corpus (within the 5 % row tolerance)
    cap = scale.shard_capacity(scale.UNIT_ROWS)["shard_capacity_files"]
    assert 3 * cap < 0.95 * scale.UNIT_ROWS and 1.05 * scale.UNIT_ROWS < 4 * cap


def test_fixed_batch_is_added_and_sealed_alone(site, source, binary, tmp_path):
    # the batch is a site of its own seed, whatever the scale being run; the shard the syncs
    # left open is sealed first, so seal-fixed seals the batch and nothing else
    fixed = scale.generate_site(source, str(tmp_path / "work"), scale.FIXED_BATCH_SCALE, UNIT, seed=scale.FIXED_BATCH_SEED, churn=0.05,
                                level=1, jobs=2, log=quiet)
    res = scale.run_pipeline(binary, site, str(tmp_path / "run"), UNIT, ["sync2", "add-fixed", "seal-fixed"], log=quiet, fixed=fixed)
    assert res["checks"] == []
    add, seal = res["steps"]["add-fixed"], res["steps"]["seal-fixed"]
    assert add["ok"] and seal["ok"]
    fm = fixed.manifest
    assert add["counts"]["added"] == fm["files"] and add["counts"]["failed"] == 0 and add["counts"]["files"] == fm["rows"]
    assert add["counts"]["sealed_shards"] == 0
    assert seal["input_rows"] == fm["rows"]
    assert add["argv"][-1].endswith("more")  # the list of files is not logged whole
    # a batch bigger than a shard would leave seal-fixed only its remainder: a failed check
    big = scale.generate_site(source, str(tmp_path / "work"), 1, UNIT, seed=scale.FIXED_BATCH_SEED, churn=0.05, level=1, jobs=2, log=quiet)
    res = scale.run_pipeline(binary, site, str(tmp_path / "run2"), UNIT, ["add-fixed", "seal-fixed"], log=quiet, fixed=big)
    assert any("filled a shard" in c for c in res["checks"])


def test_side_by_side_reruns_the_readers_and_keeps_medians(site, binary, tmp_path):
    steps = ["verify", "grep-rare", "stream"]
    res = scale.run_pipeline(binary, site, str(tmp_path / "run"), UNIT, steps, log=quiet)
    assert res["checks"] == [] and all(res["steps"][n]["ok"] for n in steps)
    # stream's work follows what it writes (each file's contents once per file), its unit
    st = res["steps"]["stream"]
    assert st["input"] == "written" and st["counts"]["records_written"] > 0
    assert st["input_gb"] == round(st["counts"]["bytes_written"] / 1e9, 6) and st["counts"]["bytes_written"] > res["corpus"]["blob_bytes"] / 2
    corpus = str(tmp_path / "run" / "corpus")
    # two "scales" over one corpus: the pass alternates them, and each record is the median
    sbs = scale.side_by_side(binary, [("1", corpus, site.manifest), ("2", corpus, site.manifest)], sys.executable, 3, steps, log=quiet)
    for k in ("1", "2"):
        for n in steps:
            r = sbs[k][n]
            assert r["ok"] and len(r["runs"]) == 3
            assert r["cpu_s"] == round(sorted(x["cpu_s"] for x in r["runs"])[1], 3)
            assert r["peak_rss_mb"] == round(sorted(x["peak_rss_mb"] for x in r["runs"])[1], 3)
        assert sbs[k]["grep-rare"]["counts"]["matches"] == len(site.manifest["needle_projects"])
        assert sbs[k]["verify"]["counts"]["problems"] == 0
        assert sbs[k]["stream"]["input"] == "written"
    table = scale.slope_markdown({k: {"side_by_side": v} for k, v in sbs.items()}, ["1", "2"], "side_by_side")
    assert "| stream |" in table and "per GB written" in table and "| verify |" in table
    # a step that fails is recorded as failed, not as a median
    bad = scale.side_by_side(binary, [("1", str(tmp_path / "nothing"), site.manifest)], sys.executable, 1, ["verify"], log=quiet)
    assert bad["1"]["verify"]["ok"] is False


def test_room_is_made_by_removing_other_cached_sites_oldest_first(tmp_path, monkeypatch):
    sites = tmp_path / "sites"
    made = []
    for i, name in enumerate(["old", "newer", "current"]):
        d = sites / name
        d.mkdir(parents=True)
        (d / "f").write_bytes(b"x" * 1000)
        os.utime(d, (1000 + i, 1000 + i))
        made.append(str(d))
    # free space grows by what the removed sites held
    monkeypatch.setattr(scale, "_free_bytes", lambda _p: 5000 + 1000 * sum(not os.path.exists(d) for d in made))
    assert scale.ensure_space(str(tmp_path), 5000, keep=(made[2],), log=quiet)
    assert all(os.path.exists(d) for d in made), "enough room already: nothing removed"
    assert scale.ensure_space(str(tmp_path), 6000, keep=(made[2],), log=quiet)
    assert [os.path.exists(d) for d in made] == [False, True, True], "the least recently used site went first"
    # more than every other site would free: nothing is removed, and the caller is told
    assert not scale.ensure_space(str(tmp_path), 9000, keep=(made[2],), log=quiet)
    assert [os.path.exists(d) for d in made] == [False, True, True]
