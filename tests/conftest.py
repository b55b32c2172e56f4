"""Shared fixtures: the pycorpus binary and a generated corpus of distribution files."""
import io
import os
import re
import subprocess
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def binary():
    path = os.environ.get("PYCORPUS_BIN", os.path.join(ROOT, "target", "debug", "pycorpus"))
    if not os.path.exists(path):
        pytest.fail("pycorpus binary not found at %s: build it (cargo build) or set PYCORPUS_BIN" % path)
    return path


class Runner:
    def __init__(self, binary, corpus):
        self.binary, self.corpus = binary, corpus

    def run(self, *args, check=True):
        r = subprocess.run([self.binary, "--corpus", self.corpus, *args], capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError("pycorpus %s failed (%d):\n%s\n%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r


def set_memory_budget(corpus, n):
    """Sets `memory_budget_bytes` in a corpus's corpus.toml (a top-level key: before any table)."""
    path = os.path.join(corpus, "corpus.toml")
    text = open(path).read()
    text, found = re.subn(r"(?m)^memory_budget_bytes = \d+", "memory_budget_bytes = %d" % n, text)
    if not found:
        text = "memory_budget_bytes = %d\n" % n + text
    open(path, "w").write(text)


def _tar(entries, mode="w:gz"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as tf:
        for e in entries:
            kind, name = e[0], e[1]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if kind == "file":
                ti.size = len(e[2])
                tf.addfile(ti, io.BytesIO(e[2]))
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e[2]
                tf.addfile(ti)
            elif kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e[2]
                tf.addfile(ti)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
    return buf.getvalue()


def _zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for e in entries:
            if e[0] == "file":
                zf.writestr(e[1], e[2])
            elif e[0] == "symlink":
                zi = zipfile.ZipInfo(e[1])
                zi.create_system = 3
                zi.external_attr = (0o120777 << 16)
                zf.writestr(zi, e[2])
            elif e[0] == "dir":
                zf.writestr(zipfile.ZipInfo(e[1] + "/"), b"")
    return buf.getvalue()


def sdist(name, version, extra=()):
    top = "%s-%s" % (name, version)
    return [
        ("dir", top),
        ("file", top + "/PKG-INFO", ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: s\nProject-URL: Source, https://src.test/%s\n"
                                      "Requires-Dist: requests>=2; python_version > '3.6'\nRequires-Dist: pytest; extra == 'test'\nProvides-Extra: test\n\n" % (name, version, name)).encode()),
        ("file", top + "/setup.py", b"from setuptools import setup\nsetup()\n"),
        ("file", top + "/pyproject.toml", b"[build-system]\nrequires = ['setuptools']\n"),
        ("file", top + "/%s/__init__.py" % name, ("VERSION = %r\n" % version).encode()),
        ("file", top + "/%s/util.py" % name, b"def helper():\n    return 42\n"),
    ] + list(extra)


def make_archives(d):
    """A mixed set of distribution files covering formats, skip rules and odd names."""
    os.makedirs(d, exist_ok=True)
    odd = [
        ("file", "odd-1.0/caf\u00e9.py", b"x = 1\n"),
        ("file", "odd-1.0/bad\udcff.py", b"y = 2\n"),  # invalid UTF-8 byte 0xff in the name
        ("file", "odd-1.0/../../escape.py", b"z = 3\n"),
        ("file", "/abs/odd.py", b"w = 4\n"),
        ("file", "odd-1.0/bin.dat", b"\x00\x01\x02\x03"),
        ("file", "odd-1.0/empty.txt", b""),
        ("file", "odd-1.0/big.txt", b"a" * (200 * 1024 + 1)),
        ("file", "odd-1.0/min.js", b"x" * (60 * 1024)),
        ("file", "odd-1.0/.git/HEAD", b"ref: refs/heads/main\n"),
        ("file", "odd-1.0/venv/lib/x.py", b"import os\n"),
        ("file", "odd-1.0/lfs.bin", b"version https://git-lfs.github.com/spec/v1\n"),
        ("file", "odd-1.0/armor.py", b"__pyarmor__(1)\n"),
        ("file", "odd-1.0/dup.py", b"one\n"),
        ("file", "odd-1.0/dup.py", b"two\n"),
        ("file", "odd-1.0/utf16.txt", "hi\n".encode("utf-16")),
        ("file", "odd-1.0/crlf.txt", b"a\r\nb\r\nc"),
        ("symlink", "odd-1.0/link.py", "../../../etc/passwd"),
        ("hardlink", "odd-1.0/hard.py", "odd-1.0/dup.py"),
        ("file", "odd-1.0/" + "long/" * 30 + "deep.py", b"deep = True\n"),
    ]
    files = {
        "alpha-1.0.tar.gz": _tar(sdist("alpha", "1.0")),
        "alpha-1.1.tar.gz": _tar(sdist("alpha", "1.1")),
        "beta-2.0.tar.bz2": _tar(sdist("beta", "2.0"), "w:bz2"),
        "gamma-3.0.tar.xz": _tar(sdist("gamma", "3.0"), "w:xz"),
        "delta-4.0.zip": _zip(sdist("delta", "4.0")),
        "odd-1.0.tar.gz": _tar(sdist("odd", "1.0", odd)),
        "eps-5.0-py3-none-any.whl": _zip([
            ("file", "eps/__init__.py", b"E = 5\n"),
            ("file", "eps/\u00fcber.py", b"u = 1\n"),
            # over 250:1 by itself: indexed as too-large from its header, never decompressed
            ("file", "eps/padding.bin", bytes(2 << 20)),
            ("symlink", "eps/link", "/etc/hosts"),
            ("file", "eps-5.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: eps\nVersion: 5.0\n\n"),
        ]),
        "broken-1.0.tar.gz": _tar(sdist("broken", "1.0"))[:200],
    }
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return d


@pytest.fixture(scope="session")
def built(binary, tmp_path_factory):
    """A corpus made from the generated archives, sealed; plus its open-shard twin."""
    base = tmp_path_factory.mktemp("built")
    archives = make_archives(str(base / "in"))
    sealed = Runner(binary, str(base / "sealed"))
    sealed.run("init")
    sealed.run("add", archives, "--uploaded-on", "2024-01-02")
    open_ = Runner(binary, str(base / "open"))
    open_.run("init")
    open_.run("add", archives, "--uploaded-on", "2024-01-02")
    sealed.run("seal")
    return {"archives": archives, "sealed": sealed, "open": open_}
