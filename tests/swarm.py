"""A swarm on 127.0.0.1 for the sharing tests and the benchmark: free ports, an HTTP server with
Range requests (web seed and catalog), opentracker, aria2, and `pycorpus seed` processes."""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on port %d" % port)


class RangeServer:
    """Serves the files under `root` with Range support. `corrupt(path, offset, data)` may change
    what is sent; `requests` records (path, range header) pairs."""

    def __init__(self, root, corrupt=None):
        self.root, self.corrupt, self.requests, self.sent = root, corrupt, [], 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                from urllib.parse import unquote
                rel = unquote(self.path.split("?")[0]).lstrip("/")
                path = os.path.realpath(os.path.join(server.root, rel))
                if os.path.isdir(path) and os.path.isfile(os.path.join(path, "index.html")):
                    path = os.path.join(path, "index.html")  # a static PEP 503 index
                if not path.startswith(os.path.realpath(server.root)) or not os.path.isfile(path):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                size = os.path.getsize(path)
                rng = self.headers.get("Range")
                server.requests.append((rel, rng))
                start, end, status = 0, size - 1, 200
                if rng:
                    m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
                    start = int(m.group(1))
                    end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                    status = 206
                length = max(0, end - start + 1)
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.send_header("Accept-Ranges", "bytes")
                if path.endswith(".html"):
                    self.send_header("Content-Type", "text/html")
                if status == 206:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
                self.end_headers()
                with open(path, "rb") as f:
                    f.seek(start)
                    left, offset = length, start
                    while left > 0:
                        chunk = f.read(min(left, 1 << 20))
                        if not chunk:
                            break
                        if server.corrupt:
                            chunk = server.corrupt(rel, offset, chunk)
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        server.sent += len(chunk)
                        left -= len(chunk)
                        offset += len(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/" % self.port
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Tracker:
    """opentracker (Debian's package) on a free port. Debian builds it in whitelist mode: it
    tracks only the info-hashes listed in a file (read after it chroots to `workdir`)."""

    def __init__(self, info_hashes, workdir):
        exe = shutil.which("opentracker")
        if not exe:
            raise RuntimeError("opentracker is not installed (scripts/test.sh installs it)")
        os.makedirs(workdir, exist_ok=True)
        with open(os.path.join(workdir, "whitelist"), "w") as f:
            f.write("".join(h + "\n" for h in info_hashes))
        self.port = free_port()
        self.proc = subprocess.Popen([exe, "-i", "127.0.0.1", "-p", str(self.port), "-P", str(self.port), "-d", str(workdir), "-w", "whitelist"],
                                     cwd=str(workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        self.url = "http://127.0.0.1:%d/announce" % self.port

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Seeder:
    """`pycorpus seed TARGETS --listen 127.0.0.1:PORT --no-dht --json`, ready when it prints its
    listening line; stopped with Ctrl-C (SIGINT)."""

    def __init__(self, binary, targets, *extra, corpus=None):
        self.port = free_port()
        cmd = [binary] + (["--corpus", corpus] if corpus else []) + ["seed", *targets, "--listen", "127.0.0.1:%d" % self.port, "--no-dht", "--json", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.events = []
        end = time.time() + 120
        while time.time() < end:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("seed exited (%s): %s" % (self.proc.wait(), self.proc.stderr.read()))
            ev = json.loads(line)
            self.events.append(ev)
            if ev["event"] == "listening":
                break
        self.addr = "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        self.events += [json.loads(l) for l in out.splitlines() if l.strip()]
        return self.proc.returncode, err


ARIA2_QUIET = ["--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
               "--console-log-level=warn", "--summary-interval=0", "--file-allocation=none", "--disable-ipv6=true"]


class Aria2Seed:
    """aria2c seeding `torrent` whose content is under `data_dir` (BEP 3 layout). With
    unverified=True it seeds without checking its pieces: a peer that serves whatever it has."""

    def __init__(self, torrent, data_dir, unverified=False):
        exe = shutil.which("aria2c")
        if not exe:
            raise RuntimeError("aria2c is not installed (scripts/test.sh installs it)")
        self.port = free_port()
        cmd = [exe, torrent, "--dir", data_dir, "--seed-ratio=0.0", "--listen-port=%d" % self.port,
               "--bt-seed-unverified=%s" % ("true" if unverified else "false"), "--check-integrity=%s" % ("false" if unverified else "true"),
               *ARIA2_QUIET]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_port(self.port, timeout=120)
        self.addr = "127.0.0.1:%d" % self.port

    def close(self):
        self.proc.kill()
        self.proc.wait()


def aria2_get(torrent, dest, timeout=300, extra=()):
    """aria2c downloads `torrent` into `dest` and exits when done (no seeding)."""
    cmd = [shutil.which("aria2c"), torrent, "--dir", dest, "--seed-time=0", "--listen-port=%d" % free_port(), *ARIA2_QUIET, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def tree_digest(root):
    """{relative path: bytes} of every file under root (for byte-for-byte comparisons)."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out
