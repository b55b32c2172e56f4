#!/usr/bin/env python3
"""Benchmark: sharing a ~500 MB sealed shard over BitTorrent on loopback, side by side with aria2
(Debian's package) in the same run, and fetching it from a web seed alone against plain curl of
the same files from the same HTTP server.

    python3 bench/share.py [--work /tmp/pycorpus-bench] [--size-mb 500] [--repeat 3]

The shard is real (made by `pycorpus add` + `seal`) from generated sdists of random base64 text,
which zstd shrinks by only a quarter, so the pack is about --size-mb. Transfers, each timed from
the downloader's start to its exit with the output checked byte for byte:
  ours -> ours     `pycorpus seed` to `pycorpus get`
  aria2 -> aria2   aria2c seeding to aria2c downloading
  aria2 -> ours    aria2c seeding to `pycorpus get`
  ours -> aria2    `pycorpus seed` to aria2c
all finding each other through opentracker; `sync` runs before each timed transfer (we fsync
what we download before stamping it verified; aria2 and curl do not, and must not leave their
dirty pages to slow the next run). The web-seed run serves the shard's folder with nginx
(or, if nginx is missing, the tests' Python Range server) and compares `pycorpus get --webseed`
(no peers) with `curl` fetching the same files one after another. Writes
bench/runs/<date>-<host>/share.json.
"""
import argparse
import base64
import filecmp
import io
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
from swarm import Aria2Seed, RangeServer, Seeder, Tracker, aria2_get, free_port, wait_port  # noqa: E402
import runlog  # bench/runlog.py, beside this script


def make_shard(binary, work, size_mb):
    """A sealed shard of about size_mb (cached in work)."""
    corpus = os.path.join(work, "corpus")
    shard = os.path.join(corpus, "shards", "000001")
    if os.path.exists(os.path.join(shard, "manifest.json")):
        return shard
    shutil.rmtree(work, ignore_errors=True)
    dists = os.path.join(work, "dists")
    os.makedirs(dists)
    rng = random.Random(7)
    files_per_dist, file_bytes = 50, 1_000_000
    n_dists = max(1, int(size_mb * 1e6 / 0.76 / (files_per_dist * file_bytes)))
    for d in range(n_dists):
        name = "bench%03d" % d
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tf:
            for i in range(files_per_dist):
                data = b"# generated\n" + base64.encodebytes(rng.randbytes(file_bytes * 3 // 4))
                ti = tarfile.TarInfo("%s-1.0/%s/m%03d.py" % (name, name, i))
                ti.size, ti.mtime = len(data), 1700000000
                tf.addfile(ti, io.BytesIO(data))
            pkg = b"Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n\n" % name.encode()
            ti = tarfile.TarInfo("%s-1.0/PKG-INFO" % name)
            ti.size, ti.mtime = len(pkg), 1700000000
            tf.addfile(ti, io.BytesIO(pkg))
        with open(os.path.join(dists, "%s-1.0.tar.gz" % name), "wb") as f:
            f.write(buf.getvalue())
    run = lambda *a: subprocess.run([binary, "--corpus", corpus, *a], check=True, capture_output=True)
    run("init")
    cfg = os.path.join(corpus, "corpus.toml")
    text = open(cfg).read()
    with open(cfg, "w") as f:
        f.write(re.sub(r"(?m)^pack_level = \d+", "pack_level = 3", text))
    run("add", dists, "--uploaded-on", "2024-01-01")
    run("seal")
    shutil.rmtree(dists)
    return shard


def same_tree(a, b):
    for dirpath, _, files in os.walk(a):
        for f in files:
            p = os.path.join(dirpath, f)
            q = os.path.join(b, os.path.relpath(p, a))
            if not os.path.exists(q) or not filecmp.cmp(p, q, shallow=False):
                return False
    return True


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def nginx(root):
    """nginx serving root on a free port, or None when nginx is not installed."""
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not exe:
        return None
    port = free_port()
    conf_dir = os.path.join(os.path.dirname(root), "nginx-%d" % port)
    os.makedirs(conf_dir, exist_ok=True)
    conf = os.path.join(conf_dir, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; worker_processes 2; pid %s/pid; error_log %s/error.log;
events { worker_connections 256; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;
  server { listen 127.0.0.1:%d; root %s; } }
""" % (conf_dir, conf_dir, conf_dir, conf_dir, conf_dir, conf_dir, conf_dir, port, root))
    proc = subprocess.Popen([exe, "-c", conf, "-p", conf_dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc, "http://127.0.0.1:%d/" % port


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/pycorpus-bench")
    ap.add_argument("--size-mb", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "pycorpus"))
    a = ap.parse_args()
    binary = a.binary
    work = os.path.join(a.work, "share-bench")
    t0 = time.perf_counter()
    shard = make_shard(binary, work, a.size_mb)
    build_s = time.perf_counter() - t0
    parent = os.path.dirname(shard)
    total = sum(os.path.getsize(os.path.join(shard, f)) for f in os.listdir(shard))
    print("shard %s: %.1f MB in %d files" % (shard, total / 1e6, len(os.listdir(shard))), file=sys.stderr)

    tmp = os.path.join(work, "runs")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    plain = os.path.join(tmp, "plain.torrent")
    create_s, r = timed(lambda: subprocess.run([binary, "torrent", "create", shard, "-o", plain, "--json"], check=True, capture_output=True, text=True))
    meta = json.loads(r.stdout)
    tracker = Tracker([meta["info_hash"]], os.path.join(tmp, "tracker"))
    torrent = os.path.join(tmp, "t.torrent")
    subprocess.run([binary, "torrent", "create", shard, "-o", torrent, "--tracker", tracker.url], check=True, capture_output=True)

    rss = {"peers": [], "webseed": []}

    def measured(cmd, kind):
        """Runs cmd under GNU time when present, keeping its peak resident memory."""
        if not os.path.exists("/usr/bin/time"):
            return subprocess.run(cmd, capture_output=True, text=True)
        out = os.path.join(tmp, "rss.txt")
        r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out, *cmd], capture_output=True, text=True)
        rss[kind].append(int(open(out).read().split()[-1]) // 1024)
        return r

    def ours_get(dest):
        r = measured([binary, "get", torrent, "-o", dest, "--no-dht", "--json"], "peers")
        assert r.returncode == 0, r.stderr[-2000:]

    def aria_get(dest):
        r = aria2_get(torrent, dest, timeout=1200)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]

    def our_seed():
        s = Seeder(binary, [torrent], "--data", parent)
        return s, s.stop

    def aria_seed():
        s = Aria2Seed(torrent, parent, unverified=True)
        return s, s.close

    pairs = {"ours->ours": (our_seed, ours_get), "aria2->aria2": (aria_seed, aria_get),
             "aria2->ours": (aria_seed, ours_get), "ours->aria2": (our_seed, aria_get)}
    times = {k: [] for k in pairs}
    try:
        for rep in range(a.repeat):
            for name, (seed, fetch) in pairs.items():
                dest = os.path.join(tmp, "dl-%s-%d" % (name.replace("->", "-"), rep))
                _, stop = seed()
                try:
                    os.sync()  # earlier runs' dirty pages would slow whoever syncs next
                    s, _ = timed(lambda: fetch(dest))
                finally:
                    stop()
                assert same_tree(shard, os.path.join(dest, "000001")), name
                shutil.rmtree(dest)
                times[name].append(s)
                print("%-13s %.2f s  %.0f MB/s" % (name, s, total / s / 1e6), file=sys.stderr)
    finally:
        tracker.close()

    # Web seed alone vs curl, same server.
    served = nginx(parent)
    server_name = "nginx"
    if served is None:
        rs = RangeServer(parent)
        served, server_name = (rs, rs.url), "python-range-server"
    proc, url = served
    web_torrent = os.path.join(tmp, "web.torrent")
    subprocess.run([binary, "torrent", "create", shard, "-o", web_torrent, "--webseed", url], check=True, capture_output=True)
    files = sorted(os.listdir(shard))
    web, curl = [], []
    try:
        for rep in range(a.repeat):
            dest = os.path.join(tmp, "web-%d" % rep)
            os.sync()
            s, r = timed(lambda: measured([binary, "get", web_torrent, "-o", dest, "--no-dht", "--json"], "webseed"))
            assert r.returncode == 0, r.stderr[-2000:]
            assert same_tree(shard, os.path.join(dest, "000001"))
            shutil.rmtree(dest)
            web.append(s)
            cdest = os.path.join(tmp, "curl-%d" % rep)
            os.makedirs(cdest)
            os.sync()
            s, _ = timed(lambda: [subprocess.run(["curl", "-sf", "-o", os.path.join(cdest, f), url + "000001/" + f], check=True) for f in files])
            assert same_tree(shard, cdest)
            shutil.rmtree(cdest)
            curl.append(s)
            print("web seed %.2f s, curl %.2f s" % (web[-1], curl[-1]), file=sys.stderr)
    finally:
        if server_name == "nginx":
            proc.terminate()
            proc.wait()
        else:
            proc.close()

    med = {k: statistics.median(v) for k, v in times.items()}
    res = {
        "machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "aria2": subprocess.run(["aria2c", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
        "shard_bytes": total,
        "shard_build_s": round(build_s, 1),
        "torrent_create_s": round(create_s, 2),
        "piece_length": meta["piece_length"],
        "transfer_s": {k: {"median": round(med[k], 3), "runs": [round(x, 3) for x in v], "mb_per_s": round(total / med[k] / 1e6, 1)} for k, v in times.items()},
        "ratio_ours_pair_vs_aria2_pair": round(med["aria2->aria2"] / med["ours->ours"], 2),
        "ratio_our_download_vs_aria2_download_from_aria2": round(med["aria2->aria2"] / med["aria2->ours"], 2),
        "ratio_our_seed_vs_aria2_seed_to_aria2": round(med["aria2->aria2"] / med["ours->aria2"], 2),
        "get_peak_rss_mb": {k: max(v) if v else None for k, v in rss.items()},
        "webseed": {"server": server_name, "ours_s": [round(x, 3) for x in web], "curl_s": [round(x, 3) for x in curl],
                    "ours_mb_per_s": round(total / statistics.median(web) / 1e6, 1), "curl_mb_per_s": round(total / statistics.median(curl) / 1e6, 1),
                    "throughput_vs_curl": round(statistics.median(curl) / statistics.median(web), 2)},
    }
    print(json.dumps(res, indent=2))
    runlog.save("share", res)


if __name__ == "__main__":
    main()
