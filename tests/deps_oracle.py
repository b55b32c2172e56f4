"""An independent reading of distributions' packaging metadata, written from docs/FORMAT.md
("releases.parquet" packaging columns and "Dependency tables"), with the Python packaging
ecosystem's own parsers: `packaging` (PEP 508 requirements, markers, specifiers), `tomllib`,
`configparser`, `email` and `json`. `compare()` checks pycorpus's tables against it, row by row.

Run on its own against a corpus and the folder of archives it was built from:

    python3 tests/deps_oracle.py CORPUS ARCHIVES [--show N]
"""
import collections
import configparser
import email.parser
import email.policy
import io
import itertools
import json
import os
import sys
import tarfile
import tomllib
import zipfile

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

VALUE_BYTES = 64 << 10
VALUES = 10_000
READ_LIMIT = 5 << 20  # ingest reads a file up to this; bigger metadata files are not parsed

# --- reading archives ------------------------------------------------------------------------


def members(path):
    """(normalised path, bytes) of each regular file of an archive."""
    name = os.path.basename(path).lower()
    out = []
    if name.endswith((".whl", ".egg", ".zip")):
        with zipfile.ZipFile(path) as z:
            for i in z.infolist():
                if not i.is_dir() and i.file_size <= READ_LIMIT:
                    out.append((_norm(i.filename), z.read(i)))
    elif name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")):
        with tarfile.open(path) as t:
            for m in t:
                if m.isfile() and m.size <= READ_LIMIT:
                    out.append((_norm(m.name), t.extractfile(m).read()))
    return out


def _norm(p):
    parts = [x for x in p.replace("\\", "/").split("/") if x not in ("", ".")]
    return "/".join(parts)


def dist_type(path):
    n = os.path.basename(path).lower()
    return "wheel" if n.endswith(".whl") else "egg" if n.endswith(".egg") else "conda" if n.endswith(".conda") else "sdist"


def metadata_file(kind, path):
    """Which metadata file `path` is (FORMAT.md's table), or None."""
    parts = path.split("/")
    d, n = (parts[-2] if len(parts) > 1 else ""), parts[-1]
    egg_info = d.endswith(".egg-info") and len(parts) <= 4
    if kind == "sdist":
        if len(parts) == 2 and n in ("PKG-INFO", "pyproject.toml", "setup.cfg"):
            return {"PKG-INFO": "core", "pyproject.toml": "pyproject", "setup.cfg": "setup_cfg"}[n]
        if egg_info and n in ("requires.txt", "entry_points.txt", "top_level.txt"):
            return n.split(".")[0]
    if kind == "wheel" and len(parts) == 2 and d.endswith(".dist-info"):
        return {"METADATA": "core", "WHEEL": "wheel", "entry_points.txt": "entry_points", "top_level.txt": "top_level"}.get(n)
    if kind == "egg" and len(parts) == 2 and d == "EGG-INFO":
        return {"PKG-INFO": "core", "requires.txt": "requires", "entry_points.txt": "entry_points", "top_level.txt": "top_level"}.get(n)
    if path == "info/index.json":
        return "conda"
    return None


# --- parsing ---------------------------------------------------------------------------------


def headers(data):
    """Core metadata / WHEEL headers: {lowercase name: [values]}, folded values' lines stripped
    and joined by newlines."""
    text = data.decode("utf-8", "replace")
    # FORMAT.md: a header line without a colon is left out (email would end the headers there)
    head, sep, body = text.partition("\n\n")
    keep = [ln for ln in head.split("\n") if ":" in ln or ln[:1] in (" ", "\t")]
    text = "\n".join(keep) + sep + body
    msg = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)
    out = collections.defaultdict(list)
    for k, v in msg.items():
        v = "\n".join(line.strip() for line in str(v).splitlines()).strip()
        out[k.lower()].append(v)
    return out


def cut(s, n=VALUE_BYTES):
    b = s.encode()
    return s if len(b) <= n else b[:n].decode("utf-8", "ignore")


def marker_extras(m):
    found = set()

    def walk(x):
        if isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, tuple) and len(x) == 3:
            lhs, op, rhs = x
            if str(op) == "==" and getattr(lhs, "value", None) == "extra":
                found.add(rhs.value)
            elif str(op) == "==" and getattr(rhs, "value", None) == "extra":
                found.add(lhs.value)
    walk(m._markers)
    return found


def requirement(raw, source, kind):
    text = raw.strip()
    row = {"source": source, "kind": kind, "raw": cut(text), "name": None, "extras": [], "specifier": None, "url": None, "marker": None, "error": False}
    if len(text.encode()) > VALUE_BYTES:
        row["error"] = True
        return row
    if kind == "conda":
        words = text.split()
        row["name"] = canonicalize_name(words[0]) if words else None
        row["specifier"] = " ".join(words[1:]) or None
        return row
    try:
        r = Requirement(text)
    except InvalidRequirement:
        row["error"] = True
        return row
    row.update(name=canonicalize_name(r.name), extras=sorted(canonicalize_name(e) for e in r.extras), url=r.url,
               specifier=str(r.specifier) or None, marker=str(r.marker) if r.marker else None)
    if kind == "run" and r.marker is not None:
        ex = marker_extras(r.marker)
        if len(ex) == 1:
            row["kind"] = "extra:" + canonicalize_name(ex.pop())
    return row


def requires_txt(data):
    out, section = [], (None, None)
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            inner = line[1:-1]
            extra, _, marker = inner.partition(":")
            section = (extra.strip() or None, marker.strip() or None)
            continue
        out.append((section[0], section[1], line))
    return out[:VALUES]


def ini(data, delimiters):
    """configparser as setuptools and importlib.metadata use it; lines it cannot place are
    left out (it still keeps everything else it read)."""
    cp = configparser.RawConfigParser(delimiters=delimiters, comment_prefixes=("#", ";"), inline_comment_prefixes=None, strict=False,
                                      default_section="\x00")
    cp.optionxform = str
    try:
        cp.read_string(data.decode("utf-8", "replace"))
    except configparser.ParsingError:
        pass
    return cp


def setup_cfg(data):
    cp = ini(data, ("=", ":"))
    out = []

    def split(v):
        parts = v.splitlines() if "\n" in v.strip() else v.split(";")
        return [p.strip() for p in parts if p.strip() and not p.strip().startswith("#")]
    if cp.has_section("options"):
        for key, kind in (("install_requires", "run"), ("setup_requires", "build")):
            if cp.has_option("options", key):
                out += [(kind, r) for r in split(cp.get("options", key))]
    if cp.has_section("options.extras_require"):
        for extra, v in cp.items("options.extras_require"):
            out += [("extra:" + canonicalize_name(extra), r) for r in split(v)]
    return out


class Dist:
    """What the oracle reads of one distribution: its requirement rows, entry points, import
    names and packaging fields."""

    def __init__(self, path):
        self.file = os.path.basename(path)
        kind = dist_type(path)
        self.requirements, self.entry_points, self.import_names, self.fields = [], [], [], {}
        core = pyproject = wheel = None
        found = []
        for p, data in members(path):
            m = metadata_file(kind, p) or (metadata_file("conda", p) if p == "info/index.json" else None)
            if m:
                found.append((m, data))
        self.has_conda = any(m == "conda" for m, _ in found)
        for m, data in found:
            if m == "core" and core is None:
                core = headers(data)
                for raw in core.get("requires-dist", [])[:VALUES]:
                    self.requirements.append(requirement(raw, "core-metadata", "run"))
            elif m == "pyproject":
                self.fields["pyproject"] = True
                try:
                    doc = tomllib.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
                    continue
                pyproject = doc
                bs, pr = doc.get("build-system", {}), doc.get("project")
                for r in bs.get("requires", []) if isinstance(bs, dict) else []:
                    if isinstance(r, str):
                        self.requirements.append(requirement(r, "pyproject", "build"))
                if isinstance(pr, dict):
                    for r in pr.get("dependencies", []):
                        if isinstance(r, str):
                            self.requirements.append(requirement(r, "pyproject", "run"))
                    for extra, rs in sorted((pr.get("optional-dependencies") or {}).items()):
                        for r in rs if isinstance(rs, list) else []:
                            if isinstance(r, str):
                                self.requirements.append(requirement(r, "pyproject", "extra:" + canonicalize_name(extra)))
            elif m == "setup_cfg":
                for k, r in setup_cfg(data):
                    self.requirements.append(requirement(r, "setup-cfg", k))
            elif m == "requires":
                for extra, marker, raw in requires_txt(data):
                    row = requirement(raw, "requires-txt", "extra:" + canonicalize_name(extra) if extra else "run")
                    if marker and not row["error"]:
                        row["marker"] = "(%s) and (%s)" % (row["marker"], marker) if row["marker"] else marker
                    self.requirements.append(row)
            elif m == "wheel":
                wheel = headers(data)
            elif m == "entry_points":
                try:
                    cp = ini(data, ("=",))
                except configparser.Error:
                    continue
                for g in cp.sections():
                    for n, v in cp.items(g):
                        self.entry_points.append((g, n.strip(), v.strip()))
            elif m == "top_level":
                self.import_names += [(n.strip(), "top_level.txt") for n in data.decode("utf-8", "replace").splitlines() if n.strip()]
            elif m == "conda":
                for d in json.loads(data).get("depends", []):
                    self.requirements.append(requirement(d, "conda-index", "conda"))
        if kind == "wheel":
            names = set()
            for p, _ in members(path):
                top, _, rest = p.partition("/")
                if top.endswith((".dist-info", ".data")):
                    continue
                if rest:
                    n = top
                else:
                    n = next((top[:-len(e)] for e in (".py", ".pyi", ".so", ".pyd") if top.endswith(e)), None)
                    n = n.split(".")[0] if n else None
                if n and n != "__pycache__" and all(c.isalnum() or c == "_" for c in n):
                    names.add(n)
            self.import_names += [(n, "paths") for n in sorted(names)]
        self._fields(core, pyproject, wheel)

    def _fields(self, core, pyproject, wheel):
        f = self.fields
        one = lambda h, k: cut(h[k][-1]) if h.get(k) else None  # noqa: E731 (the last value wins)
        many = lambda h, k: [cut(v) for v in h.get(k, [])][:VALUES]  # noqa: E731
        if core is not None:
            for col, key in (("core_metadata_version", "metadata-version"), ("description_content_type", "description-content-type"), ("keywords", "keywords"),
                             ("home_page", "home-page"), ("download_url", "download-url"), ("author", "author"), ("author_email", "author-email"),
                             ("maintainer", "maintainer"), ("maintainer_email", "maintainer-email"), ("license_text", "license"),
                             ("license_expression", "license-expression")):
                f[col] = one(core, key)
            for col, key in (("dynamic", "dynamic"), ("platforms", "platform"), ("supported_platforms", "supported-platform"), ("license_files", "license-file"),
                             ("requires_external", "requires-external"), ("provides_extra", "provides-extra"), ("provides_dist", "provides-dist"),
                             ("obsoletes_dist", "obsoletes-dist"), ("requires", "requires"), ("provides", "provides"), ("obsoletes", "obsoletes")):
                f[col] = many(core, key)
        if pyproject is not None:
            bs, pr = pyproject.get("build-system", {}), pyproject.get("project")
            f["build_backend"] = bs.get("build-backend") if isinstance(bs, dict) else None
            f["pep621"] = isinstance(pr, dict)
            if isinstance(pr, dict):
                f["project_dynamic"] = [x for x in pr.get("dynamic", []) if isinstance(x, str)]
                f["project_requires_python"] = pr.get("requires-python")
            tool = pyproject.get("tool", {})
            f["tool_tables"] = sorted(tool) if isinstance(tool, dict) else []
        if wheel is not None:
            f["wheel_version"], f["wheel_generator"], f["wheel_build"] = one(wheel, "wheel-version"), one(wheel, "generator"), one(wheel, "build")
            rip = one(wheel, "root-is-purelib")
            f["root_is_purelib"] = None if rip is None else rip.lower() == "true"
            f["wheel_tags"] = many(wheel, "tag")


# --- comparing -------------------------------------------------------------------------------

PYTHONS = ["2.7", "3.5", "3.6", "3.7", "3.8", "3.8.0", "3.8.5", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]
SYSTEMS = [("linux", "Linux", "posix", "x86_64"), ("win32", "Windows", "nt", "AMD64"), ("darwin", "Darwin", "posix", "arm64")]
IMPLS = [("cpython", "CPython"), ("pypy", "PyPy")]


def _envs(extras):
    for py, (sp, ps, osn, mach), (impl, pimpl), extra in itertools.product(PYTHONS, SYSTEMS, IMPLS, [""] + sorted(extras)):
        full = py if py.count(".") == 2 else py + ".0"
        yield {"python_version": ".".join(full.split(".")[:2]), "python_full_version": full, "sys_platform": sp, "platform_system": ps, "os_name": osn,
               "platform_machine": mach, "implementation_name": impl, "platform_python_implementation": pimpl, "implementation_version": full,
               "platform_release": "", "platform_version": "", "extra": extra}


_same_marker = {}


def same_marker(ours, theirs):
    """True when the two markers agree on every environment of a grid (Python 2.7 to 3.14,
    three systems, two implementations, each extra they name)."""
    if ours == theirs:
        return True
    if ours is None or theirs is None:
        return False
    key = (ours, theirs)
    if key not in _same_marker:
        try:
            a, b = Marker(ours), Marker(theirs)
            extras = marker_extras(a) | marker_extras(b)
            _same_marker[key] = all(a.evaluate(e) == b.evaluate(e) for e in _envs(extras))
        except Exception:  # noqa: BLE001 (a marker packaging cannot read or evaluate: a disagreement)
            _same_marker[key] = False
    return _same_marker[key]


def same_specifier(ours, theirs):
    if ours == theirs:
        return True
    if ours is None or theirs is None:
        return False
    try:
        return SpecifierSet(ours.replace(", ", ",")) == SpecifierSet(theirs)
    except InvalidSpecifier:
        return False


def requirement_differences(ours, theirs):
    """The fields on which a pycorpus row and the oracle's row disagree."""
    diff = []
    for k in ("source", "kind", "name", "url", "raw"):
        if ours[k] != theirs[k]:
            diff.append(k)
    if (ours["error"] is not None) != theirs["error"]:
        diff.append("error")
    if sorted(ours["extras"] or []) != theirs["extras"]:
        diff.append("extras")
    if theirs["kind"] == "conda" or theirs["error"]:
        if ours["specifier"] != theirs["specifier"] and not theirs["error"]:
            diff.append("specifier")
    elif not same_specifier(ours["specifier"], theirs["specifier"]):
        diff.append("specifier")
    if not theirs["error"] and not same_marker(ours["marker"], theirs["marker"]):
        diff.append("marker")
    return diff


def compare(requirements, entry_points, import_names, releases, archives):
    """Compares pycorpus's rows (lists of dicts as pyarrow's to_pylist gives them) with the
    oracle's reading of each archive in `archives` (paths). Returns (counts, disagreements)."""
    by = collections.defaultdict(lambda: {"requirements": [], "entry_points": [], "import_names": []})
    for r in requirements:
        by[r["project_release"]]["requirements"].append(r)
    for r in entry_points:
        by[r["project_release"]]["entry_points"].append((r["group"], r["name"], r["value"]))
    for r in import_names:
        by[r["project_release"]]["import_names"].append((r["name"], r["source"]))
    rels = {r["project_release"]: r for r in releases}
    counts = collections.Counter()
    bad = []
    for path in archives:
        d = Dist(path)
        if d.file not in rels or rels[d.file]["status"] != "ok":
            continue
        ours = by[d.file]
        counts["distributions"] += 1
        if len(ours["requirements"]) != len(d.requirements):
            bad.append((d.file, "requirements", "%d rows, oracle %d" % (len(ours["requirements"]), len(d.requirements))))
        for o, t in zip(ours["requirements"], d.requirements):
            counts["requirements"] += 1
            diff = requirement_differences(o, t)
            if diff:
                bad.append((d.file, "requirement " + ",".join(diff), {"ours": {k: o[k] for k in ("source", "kind", "name", "specifier", "marker", "url", "raw", "error")}, "oracle": t}))
        counts["entry_points"] += len(d.entry_points)
        if ours["entry_points"] != d.entry_points:
            bad.append((d.file, "entry points", {"ours": ours["entry_points"], "oracle": d.entry_points}))
        counts["import_names"] += len(d.import_names)
        if ours["import_names"] != d.import_names:
            bad.append((d.file, "import names", {"ours": ours["import_names"], "oracle": d.import_names}))
        rel = rels[d.file]
        for col, want in d.fields.items():
            counts["fields"] += 1
            got = rel.get(col)
            if (got or [] if isinstance(want, list) else got) != want:
                bad.append((d.file, "field " + col, {"ours": got, "oracle": want}))
    return counts, bad


def corpus_tables(corpus):
    """The corpus's tables (every sealed shard's) as lists of dicts."""
    import glob

    import pyarrow.parquet as pq

    def rows(name):
        out = []
        for f in sorted(glob.glob(os.path.join(corpus, "shards", "[0-9]" * 6, name))):
            out += pq.read_table(f).to_pylist()
        return out
    return rows("requirements.parquet"), rows("entry_points.parquet"), rows("import_names.parquet"), rows("releases.parquet")


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("archives")
    ap.add_argument("--show", type=int, default=20)
    a = ap.parse_args()
    files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(a.archives) for f in fs)
    counts, bad = compare(*corpus_tables(a.corpus), files)
    kinds = collections.Counter(k for _, k, _ in bad)
    print(json.dumps({"counts": counts, "disagreements": len(bad), "by_kind": kinds}, indent=1))
    for b in bad[:a.show]:
        print(json.dumps(b, default=str)[:600])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
