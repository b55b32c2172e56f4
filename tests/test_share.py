"""Sharing over BitTorrent on 127.0.0.1: `torrent create`, `seed` and `get` between processes,
through opentracker, from web seeds, against a corrupt peer, after a kill, and with aria2 as the
independent client on either side."""
import glob
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from swarm import Aria2Seed, RangeServer, Seeder, Tracker, aria2_get, tree_digest

NO_DHT = ["--no-dht"]


def run(binary, *args, corpus=None, timeout=300):
    cmd = [binary] + (["--corpus", corpus] if corpus else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def get(binary, *args, corpus=None, timeout=300):
    """`pycorpus get ARGS --json`: (exit code, the final report or None, stderr)."""
    r = run(binary, "get", *args, "--json", *NO_DHT, corpus=corpus, timeout=timeout)
    done = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    done = [d for d in done if d.get("event") == "done"]
    return r.returncode, (done[-1] if done else None), r.stderr


def create(binary, target, out, *extra):
    r = run(binary, "torrent", "create", target, "-o", out, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def shard(built):
    [d] = [d for d in glob.glob(os.path.join(built["sealed"].corpus, "shards", "0*")) if os.path.isdir(d)]
    return d


@pytest.fixture(scope="module")
def share(tmp_path_factory):
    """A 12 MB folder of incompressible files (several pieces each, one empty file)."""
    base = tmp_path_factory.mktemp("share")
    d = base / "dataset"
    (d / "part").mkdir(parents=True)
    for i in range(4):
        (d / "part" / ("%d.bin" % i)).write_bytes(os.urandom(3_000_000 + i * 12345))
    (d / "README.md").write_text("a dataset\n")
    (d / "empty").write_bytes(b"")
    return str(d)


def test_shard_by_torrent_into_a_corpus_then_grep(binary, built, shard, tmp_path):
    meta = create(binary, shard, str(tmp_path / "s.torrent"))
    assert meta["name"] == os.path.basename(shard)
    seeder = Seeder(binary, [shard])
    try:
        assert seeder.events[0]["info_hash"] == meta["info_hash"]
        corpus = str(tmp_path / "other")
        code, done, err = get(binary, str(tmp_path / "s.torrent"), "--peer", seeder.addr, corpus=corpus)
        assert code == 0, err
    finally:
        rc, _ = seeder.stop()
    assert rc == 0
    assert done["peer_bytes"] == meta["total_bytes"] and done["resumed_bytes"] == 0 and done["metainfo_from"] == "file"
    assert done["path"] == os.path.join(corpus, "shards", meta["name"])
    assert done["registered_distributions"] == json.load(open(os.path.join(shard, "manifest.json")))["distributions"]
    assert tree_digest(done["path"]) == tree_digest(shard)
    # Registered: the new corpus answers like the one it came from.
    for args in (["grep", "-c", "def helper"], ["ls", "--format", "jsonl"], ["status", "--format", "jsonl"]):
        mine = run(binary, *args, corpus=corpus)
        theirs = run(binary, *args, corpus=built["sealed"].corpus)
        assert mine.returncode == 0, mine.stderr
        if args[0] == "status":
            a, b = json.loads(mine.stdout)["total"], json.loads(theirs.stdout)["total"]
            assert a["distributions"] == b["distributions"] == 8 and a["unique_blobs"] == b["unique_blobs"], (a, b)
        else:
            assert mine.stdout == theirs.stdout
    assert run(binary, "verify", corpus=corpus).returncode == 0
    # The seeder counted what it sent.
    stopped = [e for e in seeder.events if e["event"] == "stopped"]
    assert stopped and stopped[0]["uploaded_bytes"] >= meta["total_bytes"]


def test_magnet_with_an_explicit_peer_and_a_datastore_hit(binary, shard, tmp_path):
    meta = create(binary, shard, str(tmp_path / "s.torrent"))
    seeder = Seeder(binary, [shard])
    out = str(tmp_path / "store")
    try:
        magnet = "magnet:?xt=urn:btih:%s&x.pe=%s" % (meta["info_hash"], seeder.addr)
        code, done, err = get(binary, magnet, "-o", out)
        assert code == 0, err
    finally:
        seeder.stop()
    assert done["metainfo_from"] == "peers" and done["peer_bytes"] == meta["total_bytes"]
    assert tree_digest(os.path.join(out, meta["name"])) == tree_digest(shard)
    # Again, with nobody to ask: the stamp answers at once.
    t = time.time()
    code, again, err = get(binary, meta["info_hash"], "-o", out)
    assert code == 0, err
    assert again["from_datastore"] and not again["verified"] and time.time() - t < 5
    # --verify re-reads every piece.
    code, again, err = get(binary, meta["info_hash"], "-o", out, "--verify")
    assert code == 0 and again["from_datastore"] and again["verified"], err
    # A damaged copy fails --verify; with no source left the error says so and keeps the rest.
    pack = os.path.join(out, meta["name"], "blobs.pack")
    data = bytearray(open(pack, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(pack, "wb").write(bytes(data))
    code, again, err = get(binary, meta["info_hash"], "-o", out, "--verify")
    assert code == 1 and "no source" in err, err
    assert os.path.exists(os.path.join(out, ".torrents", meta["info_hash"] + ".partial", "blobs.pack"))


def test_through_opentracker(binary, shard, tmp_path):
    plain = create(binary, shard, str(tmp_path / "plain.torrent"))
    tracker = Tracker([plain["info_hash"]], tmp_path / "tracker")
    try:
        meta = create(binary, shard, str(tmp_path / "s.torrent"), "--tracker", tracker.url)
        assert meta["info_hash"] == plain["info_hash"], "trackers stay outside the info-hash"
        assert meta["trackers"] == [tracker.url]
        seeder = Seeder(binary, [str(tmp_path / "s.torrent")], "--data", os.path.dirname(shard))
        try:
            code, done, err = get(binary, str(tmp_path / "s.torrent"), "-o", str(tmp_path / "out"))
            assert code == 0, err
        finally:
            seeder.stop()
    finally:
        tracker.close()
    assert done["peer_bytes"] == meta["total_bytes"]
    assert tree_digest(done["path"]) == tree_digest(shard)


def test_web_seed_alone_and_a_corrupt_web_seed_dropped(binary, share, tmp_path):
    good = RangeServer(os.path.dirname(share))
    bad = RangeServer(os.path.dirname(share), corrupt=lambda rel, off, chunk: bytes([chunk[0] ^ 1]) + chunk[1:])
    try:
        meta = create(binary, share, str(tmp_path / "d.torrent"), "--webseed", good.url)
        assert meta["webseeds"] == [good.url]
        code, done, err = get(binary, str(tmp_path / "d.torrent"), "-o", str(tmp_path / "a"))
        assert code == 0, err
        assert done["webseed_bytes"] == meta["total_bytes"] and done["peer_bytes"] == 0
        assert tree_digest(done["path"]) == tree_digest(share)
        assert good.requests and all(r is not None and r.startswith("bytes=") for _, r in good.requests)
        # A second web seed sending other bytes: caught by the piece hashes and dropped.
        code, done, err = get(binary, str(tmp_path / "d.torrent"), "-o", str(tmp_path / "b"), "--webseed", bad.url)
        assert code == 0, err
        assert [u for u, _ in done["banned_webseeds"]] == [bad.url] and done["discarded_bytes"] > 0
        assert tree_digest(done["path"]) == tree_digest(share)
        # Only the bad one: the error names it and the reason, and nothing takes the name.
        bad_only = create(binary, share, str(tmp_path / "bad.torrent"), "--webseed", bad.url)
        assert bad_only["info_hash"] == meta["info_hash"]
        code, _, err = get(binary, str(tmp_path / "bad.torrent"), "-o", str(tmp_path / "c"))
        assert code == 1 and bad.url in err and "failed its sha1" in err, err
        assert not os.path.exists(tmp_path / "c" / meta["name"])
    finally:
        good.close()
        bad.close()


def test_two_seeders_one_corrupt(binary, share, tmp_path):
    meta = create(binary, share, str(tmp_path / "d.torrent"))
    # aria2 seeds a damaged copy without checking it: every piece is wrong.
    bad_root = tmp_path / "bad"
    shutil.copytree(share, bad_root / os.path.basename(share))
    plen = meta["piece_length"]
    for f in sorted(glob.glob(str(bad_root / "*" / "part" / "*.bin"))):
        data = bytearray(open(f, "rb").read())
        for off in range(0, len(data), plen):
            data[off] ^= 0xFF
        open(f, "wb").write(bytes(data))
    liar = Aria2Seed(str(tmp_path / "d.torrent"), str(bad_root), unverified=True)
    honest = Seeder(binary, [share], "--upload-limit", "4M")  # slow enough that the liar gets asked
    try:
        code, done, err = get(binary, str(tmp_path / "d.torrent"), "-o", str(tmp_path / "out"), "--peer", liar.addr, "--peer", honest.addr)
        assert code == 0, err
    finally:
        honest.stop()
        liar.close()
    assert tree_digest(done["path"]) == tree_digest(share)
    assert done["peer_bytes"] == meta["total_bytes"]
    # Its bad pieces were received, failed their hash and were thrown away; it was disconnected
    # after each, so it cost little.
    assert 0 < done["discarded_bytes"] < meta["total_bytes"] // 4, done


def test_killed_at_half_then_resumed(binary, share, tmp_path):
    meta = create(binary, share, str(tmp_path / "d.torrent"))
    total = meta["total_bytes"]
    slow = Seeder(binary, [share], "--upload-limit", "3M")
    out = str(tmp_path / "out")
    try:
        p = subprocess.Popen([binary, "get", str(tmp_path / "d.torrent"), "-o", out, "--peer", slow.addr, "--json", *NO_DHT],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = 0
        for line in p.stderr:
            if line.startswith("{"):
                ev = json.loads(line)
                if ev["phase"] == "peers":
                    seen = ev["done"]
                    if seen >= total // 2:
                        break
        p.send_signal(signal.SIGKILL)
        p.wait()
    finally:
        slow.stop()
    assert total // 2 <= seen < total, seen
    fast = Seeder(binary, [share])
    try:
        code, done, err = get(binary, str(tmp_path / "d.torrent"), "-o", out, "--peer", fast.addr)
        assert code == 0, err
    finally:
        fast.stop()
    assert done["resumed_bytes"] >= seen - 2 * meta["piece_length"], (done, seen)
    assert done["resumed_bytes"] + done["peer_bytes"] == total, done
    assert tree_digest(done["path"]) == tree_digest(share)


def test_wrong_info_hash_from_a_catalog_is_refused(binary, share, shard, tmp_path):
    cat = tmp_path / "catalog"
    cat.mkdir()
    a = create(binary, shard, str(tmp_path / "a.torrent"))
    b = create(binary, share, str(cat / (a["info_hash"] + ".torrent")))  # b's metainfo under a's name
    server = RangeServer(str(cat))
    try:
        code, done, err = get(binary, a["info_hash"], "--catalog", server.url, "-o", str(tmp_path / "out"))
    finally:
        server.close()
    assert code == 1 and done is None
    assert "sent the metainfo of %s, not of %s" % (b["info_hash"], a["info_hash"]) in err, err
    assert not os.path.exists(tmp_path / "out" / b["name"])


def test_catalog_then_web_seed_by_bare_hash(binary, share, tmp_path):
    cat = tmp_path / "catalog"
    cat.mkdir()
    web = RangeServer(os.path.dirname(share))
    try:
        meta = create(binary, share, str(tmp_path / "d.torrent"), "--webseed", web.url)
        shutil.copy(tmp_path / "d.torrent", cat / (meta["info_hash"] + ".torrent"))
        server = RangeServer(str(cat))
        try:
            code, done, err = get(binary, meta["info_hash"], "--catalog", server.url, "-o", str(tmp_path / "out"))
        finally:
            server.close()
    finally:
        web.close()
    assert code == 0, err
    assert done["metainfo_from"] == server.url + meta["info_hash"] + ".torrent"
    assert tree_digest(done["path"]) == tree_digest(share)


def test_aria2_downloads_what_we_seed(binary, share, tmp_path):
    plain = create(binary, share, str(tmp_path / "plain.torrent"))
    tracker = Tracker([plain["info_hash"]], tmp_path / "tracker")
    try:
        meta = create(binary, share, str(tmp_path / "d.torrent"), "--tracker", tracker.url)
        seeder = Seeder(binary, [str(tmp_path / "d.torrent")], "--data", os.path.dirname(share))
        try:
            r = aria2_get(str(tmp_path / "d.torrent"), str(tmp_path / "aria"))
        finally:
            rc, _ = seeder.stop()
    finally:
        tracker.close()
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert tree_digest(tmp_path / "aria" / meta["name"]) == tree_digest(share)
    uploaded = sum(e.get("uploaded_bytes", 0) for e in seeder.events if e["event"] == "stopped")
    assert uploaded >= meta["total_bytes"], seeder.events


def test_we_download_what_aria2_seeds(binary, share, tmp_path):
    meta = create(binary, share, str(tmp_path / "d.torrent"))
    aria = Aria2Seed(str(tmp_path / "d.torrent"), os.path.dirname(share))
    try:
        code, done, err = get(binary, str(tmp_path / "d.torrent"), "-o", str(tmp_path / "out"), "--peer", aria.addr)
    finally:
        aria.close()
    assert code == 0, err
    assert done["peer_bytes"] == meta["total_bytes"]
    assert tree_digest(done["path"]) == tree_digest(share)


def test_hostile_and_wrong_input(binary, share, tmp_path):
    # A .torrent that is not bencode, and one whose path leaves the folder.
    (tmp_path / "junk.torrent").write_bytes(b"d4:infod4:name")
    code, _, err = get(binary, str(tmp_path / "junk.torrent"), "-o", str(tmp_path / "o"))
    assert code == 1 and "bad torrent" in err, err
    evil = (b"d4:infod5:filesld6:lengthi1e4:pathl2:..6:escapeeee4:name1:x12:piece lengthi16384e6:pieces20:"
            + b"\0" * 20 + b"ee")
    (tmp_path / "evil.torrent").write_bytes(evil)
    code, _, err = get(binary, str(tmp_path / "evil.torrent"), "-o", str(tmp_path / "o"), "--webseed", "http://127.0.0.1:9/")
    assert code == 1 and "path component" in err, err
    assert not os.path.exists(tmp_path / "escape")
    # Not a hash, not a magnet, not a file.
    code, _, err = get(binary, "nonsense", "-o", str(tmp_path / "o"))
    assert code == 1 and "not an info-hash" in err
    # Nothing to ask.
    code, _, err = get(binary, "a" * 40, "-o", str(tmp_path / "o"))
    assert code == 1 and "nothing to ask" in err, err
    # A non-shard torrent cannot land in a corpus.
    create(binary, share, str(tmp_path / "d.torrent"))
    code, _, err = get(binary, str(tmp_path / "d.torrent"), "--webseed", "http://127.0.0.1:9/", corpus=str(tmp_path / "c"))
    assert code == 1 and "not a pycorpus shard" in err, err
    # A wrong flag is a usage error.
    assert run(binary, "get", "x", "--bogus").returncode == 2
    # Seeding a folder that does not match its .torrent is refused.
    bad = tmp_path / "copy"
    shutil.copytree(share, bad / os.path.basename(share))
    with open(bad / os.path.basename(share) / "README.md", "w") as f:
        f.write("changed\n")
    r = run(binary, "seed", str(tmp_path / "d.torrent"), "--data", str(bad), "--listen", "127.0.0.1:0", "--no-dht")
    assert r.returncode == 1 and "does not hold the torrent's content" in r.stderr, r.stderr
    # Symlinks are not shared.
    (tmp_path / "ln").mkdir()
    os.symlink("/etc/hostname", tmp_path / "ln" / "h")
    r = run(binary, "torrent", "create", str(tmp_path / "ln"), "-o", str(tmp_path / "ln.torrent"))
    assert r.returncode == 1 and "symlink" in r.stderr


def test_get_then_keep_seeding(binary, share, tmp_path):
    """`get --seed` passes the torrent on: a second get fetches it from the first after the
    original seeder is gone."""
    meta = create(binary, share, str(tmp_path / "d.torrent"))
    origin = Seeder(binary, [share])
    from swarm import free_port
    port = free_port()
    relay = subprocess.Popen([binary, "get", str(tmp_path / "d.torrent"), "-o", str(tmp_path / "a"), "--peer", origin.addr,
                              "--seed", "--listen", "127.0.0.1:%d" % port, "--json", *NO_DHT],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        events = []
        for line in relay.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "listening":
                break
        assert [e["event"] for e in events] == ["done", "listening"], (events, relay.stderr.read() if relay.poll() is not None else "")
        assert events[1]["addr"] == "127.0.0.1:%d" % port
        origin.stop()
        code, done, err = get(binary, str(tmp_path / "d.torrent"), "-o", str(tmp_path / "b"), "--peer", events[1]["addr"])
        assert code == 0, err
        assert done["peer_bytes"] == meta["total_bytes"]
        assert tree_digest(done["path"]) == tree_digest(share)
    finally:
        origin.stop()
        relay.send_signal(signal.SIGINT)
        relay.communicate(timeout=30)
    assert relay.returncode == 0


def test_a_catalog_without_the_torrent_leaves_it_to_peers(binary, shard, tmp_path):
    meta = create(binary, shard, str(tmp_path / "s.torrent"))
    (tmp_path / "empty").mkdir()
    catalog = RangeServer(str(tmp_path / "empty"))
    seeder = Seeder(binary, [shard])
    try:
        code, done, err = get(binary, meta["info_hash"], "--catalog", catalog.url, "--peer", seeder.addr, "-o", str(tmp_path / "out"))
    finally:
        seeder.stop()
        catalog.close()
    assert code == 0, err
    assert done["metainfo_from"] == "peers" and "HTTP 404" in err, err
    assert tree_digest(done["path"]) == tree_digest(shard)
    assert not os.path.exists(tmp_path / "out" / ".torrents" / (meta["info_hash"] + ".metadata")), "no scratch left behind"


def test_dead_sources_end_in_clear_errors_or_are_dropped(binary, share, tmp_path):
    """A web seed that refuses connections is dropped after repeated failures while a good one
    finishes the job; peers that never deliver end in the stall error, files kept to resume."""
    from swarm import free_port
    dead = "http://127.0.0.1:%d/" % free_port()
    good = RangeServer(os.path.dirname(share))
    try:
        create(binary, share, str(tmp_path / "d.torrent"), "--webseed", dead, "--webseed", good.url)
        code, done, err = get(binary, str(tmp_path / "d.torrent"), "-o", str(tmp_path / "a"), "--webseed-connections", "2")
    finally:
        good.close()
    assert code == 0, err
    assert tree_digest(done["path"]) == tree_digest(share)
    # Only the dead one: dropped after 5 failures in a row, and the error names it and why.
    create(binary, share, str(tmp_path / "dead.torrent"), "--webseed", dead)
    code, _, err = get(binary, str(tmp_path / "dead.torrent"), "-o", str(tmp_path / "b"))
    assert code == 1 and "no web seed left" in err and dead in err, err
    # A peer address where nobody listens, no web seed: the stall timeout ends it.
    create(binary, share, str(tmp_path / "plain.torrent"))
    code, _, err = get(binary, str(tmp_path / "plain.torrent"), "-o", str(tmp_path / "c"), "--peer", "127.0.0.1:%d" % free_port(), "--stall-timeout", "2")
    assert code == 1 and "no progress from peers for 2 s" in err and "run again to resume" in err, err


def test_a_shard_names_the_shards_it_needs_and_with_deps_fetches_them(binary, tmp_path):
    """shards-v2: shard 3 stores only its new blobs and uses shards 1 and 2 for the rest. Fetched
    alone, `get` names both with their info-hashes and readers name the missing shard; with
    --with-deps both arrive and the corpus answers like the publisher's."""
    from conftest import _tar, sdist

    core, new, more = b"def core():\n    return 'core'\n", b"def new():\n    return 'new'\n", b"def more():\n    return 'more'\n"
    releases = [("1.0", [("file", "a-1.0/a/core.py", core)]),
                ("1.1", [("file", "a-1.1/a/core.py", core), ("file", "a-1.1/a/new.py", new)]),
                ("1.2", [("file", "a-1.2/a/new.py", new), ("file", "a-1.2/a/more.py", more)])]
    pub = str(tmp_path / "publisher")
    assert run(binary, "init", corpus=pub).returncode == 0
    for version, extra in releases:
        path = tmp_path / ("a-%s.tar.gz" % version)
        path.write_bytes(_tar(sdist("a", version, extra)))
        for args in (["add", str(path), "--uploaded-on", "2024-01-1%s" % version[-1]], ["seal"]):
            r = run(binary, *args, corpus=pub)
            assert r.returncode == 0, r.stderr
    shards = os.path.join(pub, "shards")
    hashes = {n: create(binary, os.path.join(shards, n), str(tmp_path / (n + ".torrent")))["info_hash"] for n in ("000001", "000002", "000003")}
    m3 = json.load(open(os.path.join(shards, "000003", "manifest.json")))
    assert m3["depends_on"] == [1, 2] and m3["depends_on_info_hash"] == {"000001": hashes["000001"], "000002": hashes["000002"]}
    assert json.load(open(os.path.join(shards, "000002", "manifest.json")))["depends_on"] == [1]

    seeder = Seeder(binary, [], corpus=pub)
    try:
        # Alone: the shard arrives, its dependencies are named, nothing else is fetched.
        alone = str(tmp_path / "alone")
        r = run(binary, "get", hashes["000003"], "--peer", seeder.addr, "--json", *NO_DHT, corpus=alone)
        assert r.returncode == 0, r.stderr
        events = [json.loads(l) for l in r.stdout.splitlines()]
        assert [e["event"] for e in events] == ["done", "depends_on", "depends_on"]
        assert [(e["shard"], e["info_hash"], e["present"]) for e in events[1:]] == [(1, hashes["000001"], False), (2, hashes["000002"], False)]
        text = run(binary, "get", hashes["000003"], *NO_DHT, corpus=alone)
        assert text.returncode == 0 and "uses blobs stored in shard 000001: missing: fetch it with `pycorpus get %s`" % hashes["000001"] in text.stderr, text.stderr
        assert "000001" not in os.listdir(os.path.join(alone, "shards"))
        g = run(binary, "grep", "def ", corpus=alone)
        assert g.returncode == 2 and "shard 000003 uses blobs stored in shard 000001, which this corpus does not have" in g.stderr, g.stderr
        v = run(binary, "verify", corpus=alone)
        assert v.returncode == 1 and "000001" in v.stdout + v.stderr

        # With --with-deps (the same corpus: shard 3 is in the datastore already).
        code, _, err = get(binary, hashes["000003"], "--peer", seeder.addr, "--with-deps", corpus=alone)
        assert code == 0, err
    finally:
        seeder.stop()
    for n in ("000001", "000002", "000003"):
        assert tree_digest(os.path.join(alone, "shards", n)) == tree_digest(os.path.join(shards, n))
    for args in (["grep", "def "], ["ls", "--format", "jsonl"], ["stream", "--format", "raw"]):
        mine, theirs = run(binary, *args, corpus=alone), run(binary, *args, corpus=pub)
        assert mine.returncode == 0 and mine.stdout == theirs.stdout, (args, mine.stderr)
    assert run(binary, "verify", corpus=alone).returncode == 0

    # One blob, one task: unique blobs by shard split the corpus's with no overlap.
    def oids(*extra):
        out = subprocess.run([binary, "--corpus", pub, "stream", "--format", "raw", *extra], capture_output=True, check=True).stdout
        found, i = [], 0
        while i < len(out):
            nl = out.index(b"\n", i)
            oid, _, size = out[i:nl].split(b" ")
            found.append(oid)
            i = nl + 1 + int(size) + 1
        return found
    per_shard = [oids("--shard", str(n)) for n in (1, 2, 3)]
    everything = oids()
    assert sorted(sum(per_shard, [])) == sorted(everything) and len(set(everything)) == len(everything)
    assert [len(p) for p in per_shard] == [json.load(open(os.path.join(shards, n, "manifest.json")))["unique_blobs"] for n in ("000001", "000002", "000003")]
