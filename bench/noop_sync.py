#!/usr/bin/env python3
"""Benchmark: how long `sync` takes when nothing is new, per 1,000 projects.

Generates N tiny projects (one sdist each) as a static index (JSON API + files) served by
Python's threaded http.server on 127.0.0.1, syncs them once, then times a second sync that
finds nothing new. The cost is one JSON API request per project, `--jobs` at a time. Then the
same with `--all` against a PEP 691 JSON root that gives each project's `_last-serial`: a
project whose serial has not moved since its last complete sync is not asked at all.

    python3 bench/noop_sync.py [--projects 1000] [--jobs 8]
"""
import argparse
import functools
import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sdist(name):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in [("%s-1.0/PKG-INFO" % name, b"Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n\n" % name.encode()),
                           ("%s-1.0/%s.py" % (name, name), b"X = 1\n")]:
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Quiet(http.server.SimpleHTTPRequestHandler):
    root_json = b""

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/simple/" and self.root_json:
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(self.root_json)))
            self.end_headers()
            self.wfile.write(self.root_json)
            return
        super().do_GET()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--projects", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "pycorpus"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pycorpus-noop-")
    site = os.path.join(work, "site")
    names = ["proj%05d" % i for i in range(a.projects)]
    os.makedirs(os.path.join(site, "files"))
    for n in names:
        data = sdist(n)
        open(os.path.join(site, "files", "%s-1.0.tar.gz" % n), "wb").write(data)
        d = os.path.join(site, "pypi", n)
        os.makedirs(d)
        rel = {"filename": "%s-1.0.tar.gz" % n, "url": "../../files/%s-1.0.tar.gz" % n, "digests": {"sha256": hashlib.sha256(data).hexdigest()},
               "size": len(data), "upload_time_iso_8601": "2024-01-01T00:00:00Z", "yanked": False}
        json.dump({"info": {"name": n}, "last_serial": 1, "releases": {"1.0": [rel]}}, open(os.path.join(d, "json"), "w"))
    projects = os.path.join(work, "projects.txt")
    open(projects, "w").write("\n".join(names))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = "http://127.0.0.1:%d/simple/" % server.server_address[1]
    corpus = os.path.join(work, "corpus")
    subprocess.run([a.bin, "--corpus", corpus, "init"], check=True, capture_output=True)
    def sync(*selection):
        return subprocess.run([a.bin, "--corpus", corpus, "--quiet", "sync", "--index-url", index, "--jobs", str(a.jobs), "--json", *selection], check=True, capture_output=True, text=True)

    def timed(*selection):
        t = time.time()
        out = json.loads(sync(*selection).stdout)
        return out, time.time() - t

    first, t1 = timed("--projects-file", projects)
    second, t2 = timed("--projects-file", projects)
    print("%d projects: first sync %.1f s (%d added); second sync, nothing new: %.2f s (%d downloaded) = %.2f s per 1,000 projects"
          % (a.projects, t1, first["add"]["added"], t2, second["downloaded"], t2 * 1000 / a.projects))
    # --all on a PEP 691 root with serials
    Quiet.root_json = json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n, "_last-serial": 1} for n in names]}).encode()
    third, t3 = timed("--all")
    fourth, t4 = timed("--all")
    server.shutdown()
    shutil.rmtree(work, ignore_errors=True)
    print("--all with a PEP 691 root: first %.2f s (%d projects listed: the syncs above recorded the serials of the rest); again: %.2f s, %d of %d projects unchanged and not asked = %.3f s per 1,000 projects"
          % (t3, third["projects"] - third["unchanged_projects"], t4, fourth["unchanged_projects"], fourth["projects"], t4 * 1000 / a.projects))


if __name__ == "__main__":
    main()
