#!/usr/bin/env python3
"""What `sync --all` with nothing new costs on a corpus bench/scale.py kept (`--keep`), without
its generated site: serves a PEP 691 root page listing the corpus's own projects at the serials
its last sync stored (state.sqlite), so every project is unchanged, runs the sync, and prints
wall time, CPU time and peak RSS (os.wait4 under scale.py's launcher, as it measures them) and the pages fetched
(1: the root; a project page fetched means an unchanged project was listed again).

    python3 bench/sync_nothing_new.py CORPUS [BINARY]

The corpus is changed only as any sync with nothing new changes it.
"""
import json, os, sqlite3, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import scale  # noqa: E402  (bench/scale.py: the same measuring launcher)
corpus = sys.argv[1]
binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(HERE), "target", "release", "pycorpus")
with sqlite3.connect(os.path.join(corpus, "state.sqlite")) as db:
    projects = db.execute("SELECT name, last_serial FROM projects").fetchall()
root = json.dumps({"meta": {"api-version": "1.1"}, "projects": [{"name": n, "_last-serial": s} for n, s in projects]}).encode()
hits = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        hits.append(self.path)
        ok = self.path.rstrip("/") == "/simple"
        body = root if ok else b"{}"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%d/simple/" % server.server_address[1]
argv = [binary, "--corpus", corpus, "--quiet", "sync", "--all", "--index-url", url, "--jobs", "4", "--json"]
code, wall, ru, err = scale.run_measured(argv)
sys.stderr.write(err.decode(errors="replace"))
print(json.dumps({
    "exit": code, "projects": len(projects), "root_bytes": len(root), "pages_fetched": len(hits),
    "wall_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3), "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
}))
