#!/usr/bin/env python3
"""Benchmark: `pycorpus serve` on corpus-v1, against the CLI's `grep` of the same queries.

1. Latency: each pattern (the grep benchmark's rare literal, common literal and regex with
   classes, plus a second rare literal and a selective regex) asked --repeat times of
   /api/search (every match: `limit` above the match count; the answer checked against the
   CLI's `grep --json` records), one request at a time, after one warm-up; p50 and p99 of the
   whole request as the client sees it, beside the CLI's median over as many runs. Targets:
   p50 at most 0.5x the CLI's time; a rare literal's p50 under 100 ms.
2. Load: --clients clients (threads with keep-alive connections) for --seconds, each request
   picked at random: 30 % searches (the patterns above, `limit=200`), 70 % pages (search
   page, project, release, file and statistics pages and their JSON). Reported: requests per
   second, p50/p99 by kind, statuses (503s are the server's intended answer when its search
   slots are busy; anything else but 200 is an error), and the server's peak RSS (VmHWM).
   The clients run on the same 2 cores as the server.

    python3 bench/serve.py [--work /tmp/pycorpus-bench] [--repeat 20] [--clients 64] [--seconds 60]

Needs the corpus bench/ingest.py leaves in --work (analysed by bench/analyze.py for the
statistics pages; without facts they answer 404 and are left out of the mix). Writes
bench/runs/<date>-<host>/serve.json.
"""
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import runlog  # bench/runlog.py, beside this script

PATTERNS = [
    ("rare literal", "frobnicate", True),
    ("rare literal", "TLS_RSA_WITH", True),
    ("selective regex", r"asyncio\.run_coroutine_threadsafe", False),
    ("common literal", "import os", True),
    ("regex with classes", r"def \w+\(self, \w+=None\)", False),
]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def cli_grep(binary, corpus, pattern, fixed):
    cmd = [binary, "--corpus", corpus, "grep", "--json", pattern, "--ext", "py"] + (["-F"] if fixed else [])
    t = time.time()
    r = subprocess.run(cmd, capture_output=True)
    secs = time.time() - t
    if r.returncode not in (0, 1):
        sys.exit("%s failed: %s" % (cmd, r.stderr.decode()[-500:]))
    return secs, [json.loads(l) for l in r.stdout.splitlines()]


class Client:
    """One keep-alive connection."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path):
        for attempt in (0, 1):
            try:
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise


def search_path(pattern, fixed, limit):
    q = {"q": pattern, "ext": "py", "limit": str(limit)}
    if fixed:
        q["fixed"] = "1"
    return "/api/search?" + urllib.parse.urlencode(q)


def rss_peak(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def main():
    ap = runlog.arguments(__doc__, repeat=20)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=60)
    a = ap.parse_args()
    corpus, _ = runlog.ingested(a.work)
    started = time.time()
    server = subprocess.Popen([a.bin, "--corpus", corpus, "serve", "--bind", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = server.stdout.readline().strip()
    startup = time.time() - started
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    print("serving on %s, listening after %.3f s" % (url, startup))
    res = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()), "startup_s": round(startup, 3), "latency": [], "load": None}
    try:
        c = Client(port)
        print("%-22s %-36s %8s %8s %8s %8s %6s" % ("", "pattern", "lines", "CLI p50", "srv p50", "srv p99", "ratio"))
        for label, pattern, fixed in PATTERNS:
            cli_times, records = [], None
            for _ in range(a.repeat):
                secs, records = cli_grep(a.bin, corpus, pattern, fixed)
                cli_times.append(secs)
            path = search_path(pattern, fixed, max(len(records) + 1, 1))
            status, body = c.get(path)  # warm-up, and the check
            assert status == 200, (status, body[:300])
            got = json.loads(body)
            assert got["matches"] == records and not got["truncated"], "the server's matches differ from the CLI's for %r" % pattern
            times = []
            for _ in range(a.repeat):
                t = time.time()
                status, _ = c.get(path)
                times.append(time.time() - t)
                assert status == 200
            row = {"label": label, "pattern": pattern, "lines": len(records), "cli_p50_s": statistics.median(cli_times), "server_p50_s": statistics.median(times), "server_p99_s": pct(times, 99)}
            row["ratio"] = row["server_p50_s"] / row["cli_p50_s"]
            res["latency"].append(row)
            print("%-22s %-36s %8d %8.3f %8.3f %8.3f %6.2f" % (label, pattern, row["lines"], row["cli_p50_s"], row["server_p50_s"], row["server_p99_s"], row["ratio"]))

        # pages to mix in: from the answers themselves
        status, body = c.get(search_path("def ", True, 200))
        matches = json.loads(body)["matches"]
        blobs = sorted({m["oid"] for m in matches})[:100]
        releases = sorted({(m["project"], m["release"]) for m in matches})[:100]
        projects = sorted({p for p, _ in releases})
        pages = [("page:file", "/blob/%s" % o) for o in blobs] + [("api:files", "/api/blob/%s/files" % o) for o in blobs]
        pages += [("page:release", "/project/%s/%s" % (p, urllib.parse.quote(r))) for p, r in releases]
        pages += [("page:project", "/project/%s" % p) for p in projects] + [("api:project", "/api/project/%s" % p) for p in projects]
        pages += [("page:home", "/")]
        if c.get("/api/stats")[0] == 200:
            pages += [("page:stats", "/stats"), ("api:stats", "/api/stats")]
        searches = [("search:" + label, search_path(p, f, 200)) for label, p, f in PATTERNS]

        lock, samples = threading.Lock(), []
        stop = time.time() + a.seconds

        def client(seed):
            rng, cl = random.Random(seed), Client(port)
            while time.time() < stop:
                kind, path = rng.choice(searches) if rng.random() < 0.3 else rng.choice(pages)
                t = time.time()
                try:
                    status, _ = cl.get(path)
                except Exception as e:  # a refused or reset connection is an error to report
                    status = "error: %s" % type(e).__name__
                with lock:
                    samples.append((kind, status, time.time() - t))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        statuses = {}
        for _, s, _ in samples:
            statuses[str(s)] = statuses.get(str(s), 0) + 1
        kinds = {}
        for k, s, secs in samples:
            if s == 200:
                kinds.setdefault(k.split(":")[0], []).append(secs)
        load = {
            "clients": a.clients, "seconds": round(wall, 1), "requests": len(samples), "per_second": round(len(samples) / wall, 1), "statuses": statuses,
            "errors": sum(n for s, n in statuses.items() if s not in ("200", "503")),
            "by_kind": {k: {"n": len(v), "p50_s": statistics.median(v), "p99_s": pct(v, 99)} for k, v in sorted(kinds.items())},
            "server_peak_rss_bytes": rss_peak(server.pid),
        }
        res["load"] = load
        print("\nload: %d clients, %.0f s: %d requests (%.1f/s), statuses %s, peak RSS %.0f MB" % (a.clients, wall, len(samples), load["per_second"], statuses, load["server_peak_rss_bytes"] / 1e6))
        for k, v in load["by_kind"].items():
            print("  %-8s n=%6d  p50 %.3f s  p99 %.3f s" % (k, v["n"], v["p50_s"], v["p99_s"]))
    finally:
        server.terminate()
        server.wait(timeout=30)
    runlog.save("serve", res)


if __name__ == "__main__":
    main()
