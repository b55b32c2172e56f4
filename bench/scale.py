#!/usr/bin/env python3
"""Benchmark (issue 23): how every command scales with the size of the index.

Generates a realistic synthetic package index whose size is a multiple of corpus-v1 (S x 412,120
file rows), serves it from 127.0.0.1 like the real index (PEP 691 JSON / PEP 503 HTML simple
pages with serials, the JSON API, the files), and runs the whole pipeline against it, each step
as a subprocess of the pycorpus binary, measured with os.wait4 (wall time, CPU time, peak RSS):

    init, sync --all, seal, status, verify, analyze, report, export codesearchnet,
    grep (a rare literal, a common literal, a regex), ls with a filter, stream --ext py,
    iter_files through the Python module, then a second sync --all after 1 % of the projects
    publish a new release (sync2, rated per GB of new archives), and a third with nothing new
    (sync3: what listing the unchanged projects costs, per thousand projects); last, add-fixed
    and seal-fixed: a small batch of its own seed (0.1 x the unit, the same at every scale) added
    to and sealed in each corpus, the same work in corpora of different sizes (sync2's batch and
    seal's leftover shard grow with the scale, so their peaks compare batches, not corpora).

    python3 bench/scale.py                          # scales 1,4,16,32 with the release binary
    python3 bench/scale.py --quick --bin target/debug/pycorpus   # 1x, 2x of 100,000 rows
    python3 bench/scale.py --scale 1,2 --steps sync,export,stream --keep
    python3 bench/scale.py --scale 32 --generate-only   # make (and cache) a site, run nothing

The generated index: P projects, each built from a "template project" taken from real files
(the newest sdist of each project of corpus-v1 in ~/.cache/pycorpus/corpus-v1, or, offline, the
standard library and site-packages of this Python carved into packages; files over 1 MiB left
out), with its top package renamed to the project's name, a third of its identifiers renamed
the same way in all its files, and its text otherwise kept, so that blobs and functions differ
across projects; heavy-tailed release counts (most projects 1-3 releases, a few hundreds) and
sizes; each release changes a few percent of the files of the one before (`--churn`: lines
inserted, deleted or modified, files added and removed, all parseable) and bumps the version
strings, and is published as an sdist and a pure wheel, uploaded between 2015 and 2025.
Generation runs on every core, is deterministic for a given (seed, scale, unit, churn, gzip
level, source) and is cached under --work (default ~/.cache/pycorpus/scale): sites/<fingerprint>/
holds the files and the pages; a rerun reuses them, an interrupted generation resumes project
by project, and cached sites are removed (least recently used first) when the disk runs short.
Before generating, the script prints its estimate of the archives' size and refuses when the
free space cannot hold them and the corpus.

Each step's input: archive bytes for `sync` (for the second sync: the new archives); the open
shard for `seal`; for the other steps the corpus's unique blob bytes (what the commands that
read contents decode) and its file rows, both from `status`. Rates are given per GB and per
million rows. Peak RSS is the step's own ru_maxrss, read by a small launcher (see LAUNCHER):
values under ~10 MB mean "at most the launcher's". The corpus splits into shards of a fixed
capacity (4 shards at 1x), so the number of shards grows with the scale.
`stream`'s rate is per GB written (it writes each file's contents once per file holding them).

With several scales the run ends with a side-by-side pass (`--repeat N`, default 3): the reading
steps (SIDE_BY_SIDE_STEPS) again on every scale's corpus, the scales alternating within each
step, medians kept under `side_by_side` and printed as a second table. The scales of a run are
tens of minutes apart and a VM's speed drifts over that; side by side, ratios between scales
are the code's. The corpora are kept until then (deleted at the end unless --keep).

In --quick mode the script then checks the flat-memory property (peak RSS of export, report and
stream at 2x within 1.25x of 1x plus 8 MB) and exits 1 when it does not hold. Any step that
fails (non-zero exit), and any count that disagrees with the generated index (distributions,
file rows, needle matches, what the second sync fetched), is recorded and makes the script
exit 1 at the end; the run goes on.

Writes bench/runs/<date>-<host>/scale-<mode>.json (mode: quick or full) and prints a Markdown
table (also to --markdown FILE).
"""
import argparse
import base64
import builtins
import gzip
import hashlib
import html
import http.server
import io
import json
import keyword
import multiprocessing
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import runlog  # noqa: E402  (bench/runlog.py, beside this script)

# Bump when the generator changes what it writes: it is part of every cache fingerprint.
GENERATOR_VERSION = 8
CORPUS_V1 = os.path.expanduser("~/.cache/pycorpus/corpus-v1")
DEFAULT_WORK = os.path.expanduser("~/.cache/pycorpus/scale")
UNIT_ROWS = 412_120  # file rows of corpus-v1
# --quick: big enough that a step holding ~6 KB per export record (what `export` did before
# issue 23) grows past the 1.25x + 8 MB allowance with a clear margin on the debug build
# (export's baseline there is ~230 MB), small enough for a few minutes.
QUICK_UNIT_ROWS = 100_000
# --quick's memory budget: far below what a 1x export or report would hold, so that 1x and 2x
# both run at the budget and the check shows that the budget, not the corpus, sets the peak
# (the full run keeps the corpus default, 1 GiB, which 4x and up outgrow).
QUICK_MEMORY_BUDGET = 48 << 20
DIST_SUFFIXES = (".tar.gz", ".tgz", ".whl", ".zip")
CARVE_EXTS = {".py", ".pyi", ".txt", ".cfg", ".toml", ".md", ".rst", ".json", ".c", ".h"}
# Files over 1 MiB are left out of templates (corpus-v1 has 204 of them in 412,120 rows, but
# picked at random into small projects they would weigh ~20 % of the archive bytes, and 32x
# must fit in ~60 GB). Files from 200 KiB to 1 MiB still exercise the too-large rule.
MAX_TEMPLATE_FILE = 1 << 20
CARVE_MAX_FILE = MAX_TEMPLATE_FILE
CARVE_MAX_TEMPLATE = 300  # files; bigger folders are carved into their subfolders
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
T_START = 1420070400  # 2015-01-01
T_END = 1767139200  # 2025-12-31
T_PHASE2 = 1768435200  # 2026-01-15: the "second sync" releases
MAX_RELEASES = 300
REQUIRED_STEPS = ("init", "sync", "seal")
OPTIONAL_STEPS = ("status", "verify", "analyze", "report", "export", "grep-rare", "grep-common", "grep-regex", "ls", "stream", "iter_files", "sync2", "sync3",
                  "add-fixed", "seal-fixed")
# The fixed batch: a small site of its own seed, the same at every scale (same templates, unit and
# seed), added and sealed into each corpus last: equal work in corpora of different sizes. sync2's
# new releases and seal's leftover shard grow with the scale (more and larger distributions, a
# fuller last shard), so their peaks compare batches, not corpora; these two steps compare corpora.
# Disk a run needs beside its site, per byte of the site's archives (32x: a 3.2 GB corpus and
# export's output and check, for 44.6 GB of archives).
RUN_SPACE_FACTOR = 0.2
FIXED_BATCH_SCALE = 0.1
FIXED_BATCH_SEED = "fixed-batch"
STEP_GROUPS = {"grep": ("grep-rare", "grep-common", "grep-regex")}
FLAT_MEMORY_STEPS = ("export", "report", "stream")

# --------------------------------------------------------------------------------------------
# Template projects: real files, from distribution files or carved from a source tree
# --------------------------------------------------------------------------------------------

TEXT_EXTS = {".py", ".pyi", ".pyx", ".pxd", ".txt", ".cfg", ".toml", ".md", ".rst", ".in", ".ini", ".yml", ".yaml", ".sh",
             ".c", ".h", ".cc", ".cpp", ".hpp", ".js", ".ts", ".css", ".html", ".rs", ".json", ".po"}
HASH_COMMENT = {".py", ".pyi", ".pyx", ".pxd", ".txt", ".cfg", ".toml", ".in", ".ini", ".yml", ".yaml", ".sh", ".po"}
SLASH_COMMENT = {".c", ".h", ".cc", ".cpp", ".hpp", ".js", ".ts", ".css", ".rs"}
HTML_COMMENT = {".md", ".html"}
SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".tox", ".venv", "venv", "node_modules", "site-packages", "dist-packages"}
NOT_PACKAGES = {"test", "tests", "testing", "doc", "docs", "example", "examples", "benchmarks", "bench", "tools", "scripts", "ci", "build"}
COMMON_NAMES = {"src", "lib", "core", "utils", "util", "main", "test", "tests", "py", "api", "app", "base", "data", "common"}


def _is_dist(name):
    return name.endswith(DIST_SUFFIXES)


def _version_key(v):
    return [int(x) for x in re.findall(r"\d+", v)[:6]]


def _dist_project(filename):
    """(project, version) of a distribution file name, good enough to group corpus-v1."""
    stem = filename
    for s in DIST_SUFFIXES:
        if stem.endswith(s):
            stem = stem[: -len(s)]
    m = re.match(r"^(.+?)-(\d[^-]*)", stem)
    return (m.group(1).lower().replace("_", "-"), m.group(2)) if m else (stem.lower(), "0")


def _read_dist(path):
    """The regular files of an sdist (top folder stripped) or a wheel (dist-info left out)."""
    files = []
    if path.endswith(".whl") or path.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            names = [i.filename for i in infos]
            strip = path.endswith(".zip") and len({n.split("/", 1)[0] for n in names}) == 1
            for i in infos:
                rel = i.filename.split("/", 1)[1] if strip and "/" in i.filename else i.filename
                files.append((rel, zf.read(i)))
    else:
        with tarfile.open(path) as tf:
            for m in tf:
                if not m.isfile() or "/" not in m.name:
                    continue
                rel = m.name.split("/", 1)[1]
                f = tf.extractfile(m)
                files.append((rel, f.read() if f else b""))
    out = []
    for rel, data in files:
        parts = rel.split("/")
        if len(data) > MAX_TEMPLATE_FILE:
            continue
        if not rel or rel == "PKG-INFO" or any(p.endswith((".egg-info", ".dist-info")) for p in parts) or any(p in SKIP_DIRS for p in parts):
            continue
        out.append((rel, data))
    return out


def _find_package(paths):
    """The template's top package folder ("flask", "src/attr", "lib/matplotlib") or, for
    single-module projects, the main module ("six.py", "src/typing_extensions.py"): what the
    wheel holds and what gets renamed. The package with the most files wins."""
    pset = set(paths)
    counts = {}
    for p in paths:
        parts = p.split("/")
        if any(x in NOT_PACKAGES for x in parts[:-1]):
            continue
        for depth in range(1, min(len(parts), 4)):
            d = "/".join(parts[:depth])
            if d + "/__init__.py" in pset:
                if parts[depth - 1].isidentifier():
                    counts[d] = counts.get(d, 0) + 1
                break  # the outermost package folder on this path
    if counts:
        return max(counts, key=lambda d: (counts[d], -len(d), d))
    mods = [p for p in paths if p.count("/") <= 1 and p.endswith(".py") and (p.count("/") == 0 or p.startswith(("src/", "lib/")))
            and os.path.basename(p) not in ("setup.py", "conftest.py", "noxfile.py") and not os.path.basename(p).startswith("test")
            and os.path.basename(p)[:-3].isidentifier()]
    if mods:
        return min(mods, key=lambda p: (p.count("/"), p))  # a wheel with one module
    return None


def _carve(base, rel_dir, out):
    """Cuts the tree under base/rel_dir into templates of at most CARVE_MAX_TEMPLATE files:
    (name, [(path relative to the template, abs path)])."""
    here = os.path.join(base, rel_dir)
    try:
        entries = sorted(os.scandir(here), key=lambda e: e.name)
    except OSError:
        return
    direct, subdirs = [], []
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            if e.name not in SKIP_DIRS and not e.name.endswith((".dist-info", ".egg-info", ".data")):
                subdirs.append(e.name)
        elif e.is_file(follow_symlinks=False) and os.path.splitext(e.name)[1] in CARVE_EXTS:
            try:
                if e.stat().st_size <= CARVE_MAX_FILE:
                    direct.append(e.name)
            except OSError:
                pass
    everything = []
    for root, dirs, fs in os.walk(here):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith((".dist-info", ".egg-info")))
        for f in sorted(fs):
            if os.path.splitext(f)[1] in CARVE_EXTS:
                p = os.path.join(root, f)
                try:
                    if os.path.getsize(p) <= CARVE_MAX_FILE and not os.path.islink(p):
                        everything.append(os.path.relpath(p, here))
                except OSError:
                    pass
    name = os.path.basename(rel_dir.rstrip("/")) or "mods"
    if rel_dir and 0 < len(everything) <= CARVE_MAX_TEMPLATE and any(p.endswith(".py") for p in everything):
        out.append((name, [(p, os.path.join(here, p)) for p in everything]))
        return
    for d in subdirs:
        _carve(base, os.path.join(rel_dir, d), out)
    mods = [f for f in direct]
    for i in range(0, len(mods), 25):  # loose files: modules grouped a few dozen at a time
        chunk = mods[i:i + 25]
        if any(f.endswith(".py") for f in chunk):
            out.append(("%s_mods%d" % (name if rel_dir else "py", i // 25), [(f, os.path.join(here, f)) for f in chunk]))


def _template_from_carve(name, members):
    """A carved folder as a template: its files under a package folder named after it."""
    pkg = re.sub(r"\W", "_", name).lower().strip("_") or "pkg"
    if pkg[0].isdigit():
        pkg = "p" + pkg
    if pkg in NOT_PACKAGES:
        pkg += "_pkg"
    files = []
    for rel, src in members:
        try:
            with open(src, "rb") as f:
                files.append((pkg + "/" + rel.replace(os.sep, "/"), f.read()))
        except OSError:
            pass  # gone since the walk (a package being installed or removed)
    if not any(p == pkg + "/__init__.py" for p, _ in files):
        files.append((pkg + "/__init__.py", ('"""The %s package."""\n' % pkg).encode()))
    return files


def _build_one_template(job):
    """Pool worker: reads one template and writes it as <dir>/<tid>.bin; returns its index entry."""
    tid, kind, arg, out_dir = job
    if kind == "dist":
        files = _read_dist(arg)
        name = _dist_project(os.path.basename(arg))[0]
    else:
        name, members = arg
        files = _template_from_carve(name, members)
    files.sort()
    if len(files) < (1 if kind == "dist" else 3):
        return None  # carved folders of one or two files make toy projects
    paths = [p for p, _ in files]
    pkg = _find_package(paths)
    if pkg is None:
        return None
    # the contents end to end: a project reads only the files it keeps (os.pread)
    tmp = os.path.join(out_dir, "%05d.dat.tmp" % tid)
    with open(tmp, "wb") as f:
        for _, d in files:
            f.write(d)
    os.replace(tmp, os.path.join(out_dir, "%05d.dat" % tid))
    return {"tid": tid, "name": name, "pkg": pkg, "paths": paths, "sizes": [len(d) for _, d in files]}


def default_source():
    """corpus-v1 when it has been fetched, else this Python's own files (works offline)."""
    if os.path.isdir(CORPUS_V1) and any(_is_dist(f) for f in os.listdir(CORPUS_V1)):
        return CORPUS_V1
    return "python"


def _source_jobs(source, out_dir):
    """What to read for a source; and its fingerprint (names, sizes and times of the inputs)."""
    h = hashlib.sha256(("gen%d" % GENERATOR_VERSION).encode())
    jobs = []
    if source != "python" and os.path.isdir(source) and any(_is_dist(f) for f in os.listdir(source)):
        # One template per project: the newest sdist (its wheel when it has none). Versions of
        # one project are near-duplicates; the generator makes its own versions.
        best = {}
        for f in sorted(os.listdir(source)):
            if not _is_dist(f):
                continue
            proj, ver = _dist_project(f)
            key = (not f.endswith(".whl"), _version_key(ver), f)
            if proj not in best or key > best[proj][0]:
                best[proj] = (key, f)
        for i, proj in enumerate(sorted(best)):
            p = os.path.join(source, best[proj][1])
            st = os.stat(p)
            h.update(("%s %d %d\n" % (best[proj][1], st.st_size, int(st.st_mtime))).encode())
            jobs.append((i, "dist", p, out_dir))
        return jobs, "dists:" + h.hexdigest()[:16]
    roots = [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]] if source == "python" else [source]
    carved = []
    for r in dict.fromkeys(roots):
        _carve(r, "", carved)
    for i, (name, members) in enumerate(carved):
        for rel, src in members:
            try:
                h.update(("%s %d\n" % (src, os.path.getsize(src))).encode())
            except OSError:
                pass
        jobs.append((i, "carve", (name, members), out_dir))
    return jobs, "tree:" + h.hexdigest()[:16]


class TemplatePool:
    """The templates of a source, cached on disk as <work>/templates/<fingerprint>/."""

    def __init__(self, directory, index, fingerprint):
        self.dir, self.index, self.fingerprint = directory, index, fingerprint

    def __len__(self):
        return len(self.index)


def build_templates(source, work, jobs=2, log=print):
    """Reads the source into templates (once; cached under work/templates/)."""
    os.makedirs(os.path.join(work, "templates"), exist_ok=True)
    tmp = os.path.join(work, "templates", "building-%d" % os.getpid())
    os.makedirs(tmp, exist_ok=True)
    job_list, fp = _source_jobs(source, tmp)
    final = os.path.join(work, "templates", fp.replace(":", "-"))
    index_path = os.path.join(final, "index.json")
    if os.path.exists(index_path):
        shutil.rmtree(tmp, ignore_errors=True)
        with open(index_path) as f:
            return TemplatePool(final, json.load(f), fp)
    t = time.perf_counter()
    log("reading templates from %s (%d inputs) ..." % (source, len(job_list)))
    with multiprocessing.Pool(jobs) as pool:
        # the biggest inputs first, so that the two workers finish together
        order = sorted(job_list, key=lambda j: -(os.path.getsize(j[2]) if j[1] == "dist" else len(j[2][1])))
        entries = [e for e in pool.imap_unordered(_build_one_template, order) if e]
    entries.sort(key=lambda e: e["tid"])
    with open(os.path.join(tmp, "index.json"), "w") as f:
        json.dump(entries, f)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    # older templates of the same kind of source are stale (corpus-v1 or this Python changed)
    kind = os.path.basename(final).split("-", 1)[0]
    for d in os.listdir(os.path.join(work, "templates")):
        p = os.path.join(work, "templates", d)
        if d.startswith(kind + "-") and p != final:
            shutil.rmtree(p, ignore_errors=True)
    log("  %d templates, %d files, %.1f MB, in %.1f s" % (len(entries), sum(len(e["paths"]) for e in entries),
                                                          sum(sum(e["sizes"]) for e in entries) / 1e6, time.perf_counter() - t))
    return TemplatePool(final, entries, fp)


# --------------------------------------------------------------------------------------------
# The plan: projects, names, releases, times (all decided here, from the seed)
# --------------------------------------------------------------------------------------------

WORDS = """able acme aero agent air alpha amber anchor angle ant apex apple arc arch arrow art
ash astro atlas atom audio aura auto axis azure bag bake bamboo band bar base basic bay beacon
bean bear bee bell berry beta bird bit black blade blaze blend bliss block bloom blue bolt bond
book boost bot box brain branch brave brick bridge bright broad brook bud bug build bunny byte
cable cache cactus cake calm camel camp candy canvas cap card cargo carrot cart castle cat cedar
cell chain chalk charm chart chat cherry chess chip circle city clay clean clear cliff clip clock
cloud clover coast code coin comet coral core cosmos cotton craft crane crisp cross crown crystal
cube cup curve cyber daisy dark dash data dawn deep delta desk dew dial diamond dice digit dino
disk dock dog dome dot dove draft dragon dream drift drop drum dune dust eagle earth echo edge
elm ember engine epic equal evo fable falcon fast feather fern fiber field fig film fire fish
flag flame flash fleet flex flint flow flower flux fly focus fog forge fork form fox frame fresh
frog frost fruit fuel fusion galaxy garden gate gear gem geo ghost giant glass glide globe glow
gold grain graph grass gravity green grid grove guard gull harbor hawk haze heart helix hero hex
hill hive honey hook horizon hub ice icon ink iris iron island ivy jade jar jazz jet jewel joy
jump jungle kernel key kite kiwi koala lab lake lamp lark laser lava leaf lemon lens light lily
lime line link lion liquid lite log loop lotus lucky luna lunar lynx magic magnet maple marble
mars mast matrix maze meadow mega melon mesa mesh meta meteor micro mint mirror mist moon moss
moth motion mountain mouse nano neat nebula neon nest net nimbus noble nova nut oak oasis ocean
olive omega onyx opal orbit orca otter owl oxide palm panda paper path peach pearl pebble pepper
petal phoenix pilot pine pixel planet plasma plum polar pond pony prism pulse puma quantum quartz
quest quick radar rain rapid raven ray reef ridge ring river road robin rock rocket root rose
ruby rune rust sage sail salt sand sapphire scout sea seed shadow shell shield signal silk silver
sky slate snow solar sonic spark spice spider spike spring sprout spruce square star steam steel
stone storm stream sugar summit sun swan swift tango tea tempo terra thunder tide tiger timber
token topaz torch tower trail tree tribe tulip turbo twig ultra umbra unity valley vapor vector
velvet venus vertex violet vista volt wave web whale wheat willow wind wing wolf wood wren yak
yarn zen zephyr zest zinc zone""".split()
TECH = """api async auth cache cli client config core crypto csv data db django fast flask graph
http io json lint log math ml net orm parse plot py pytest queue redis rest rpc schema sdk sql
stats sync task test text tools types util web xml yaml""".split()
LICENSES = ["MIT", "MIT", "MIT", "BSD-3-Clause", "Apache-2.0", "Apache-2.0", "GPL-3.0-or-later", "LGPL-2.1", "MPL-2.0", ""]
PYTHONS = [">=3.6", ">=3.7", ">=3.8", ">=3.8", ">=3.9", ">=3.9", ">=3.10", ">=3.11", ">=3.12", ""]
TOPICS = ["Software Development :: Libraries", "Internet :: WWW/HTTP", "Scientific/Engineering", "Utilities",
          "System :: Networking", "Text Processing", "Database", "Software Development :: Testing"]


def make_name(rng, taken):
    """A realistic project name: lowercase words, sometimes digits or hyphens; unique (PEP 503)."""
    w = lambda: rng.choice(WORDS)
    r = rng.random()
    if r < 0.15:
        name = w()
    elif r < 0.45:
        name = "%s-%s" % (w(), w())
    elif r < 0.55:
        name = w() + w()
    elif r < 0.63:
        name = rng.choice(["py" + w(), w() + "py", w() + "-py"])
    elif r < 0.68:
        name = "%s-%s-%s" % (w(), w(), w())
    elif r < 0.80:
        name = "%s%d" % (w(), rng.randrange(2, 100))
    else:
        name = "%s-%s" % (rng.choice(TECH), w()) if rng.random() < 0.7 else "%s-%s" % (w(), rng.choice(TECH))
    base, k = name, 2
    while name in taken:
        name = "%s%d" % (base, k)
        k += 1
    taken.add(name)
    return name


def _fmt_time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000Z"


def _bump(rng, v):
    a, b, c = v
    r = rng.random()
    if r < 0.05:
        return (a + 1, 0, 0)
    if r < 0.30:
        return (a, b + 1, 0)
    return (a, b, c + 1)


def _release_rows(tpl, kept):
    """Archive members of one release: the sdist (kept files + PKG-INFO + missing boilerplate)
    and the wheel (package files + METADATA, WHEEL, RECORD)."""
    paths = [tpl["paths"][i] for i in kept]
    sdist = len(paths) + 1 + len(_boilerplate_missing(paths))
    wheel = sum(1 for p in paths if _in_package(p, tpl["pkg"])) + 3
    return sdist + wheel


def _in_package(path, pkg):
    return path == pkg if pkg.endswith(".py") else path.startswith(pkg + "/")


def _boilerplate_missing(paths):
    top = {p.lower() for p in paths if "/" not in p}
    out = []
    if not any(p.startswith("readme") for p in top):
        out.append("README.md")
    if not any(p.startswith(("license", "licence", "copying")) for p in top):
        out.append("LICENSE")
    if "pyproject.toml" not in top and "setup.py" not in top:
        out.append("pyproject.toml")
    return out


def plan_site(pool, target_rows, seed, churn):
    """Decides every project: name, template, which of its files, releases (versions, upload
    times), metadata; the ~1 % that publish again for the second sync; where the rare needle
    goes. Projects are added until the expected file rows reach target_rows (the churn adds and
    removes files equally often and pulls the count back to the first release's, so the rows of
    a release stay those of the plan on average)."""
    rng = random.Random("pycorpus-scale-plan:%s" % seed)
    taken, projects, total = set(), [], 0
    cap = max(60, int(0.03 * target_rows))  # no project holds more than 3 % of the rows
    index = pool.index
    split = {}  # tid -> (files every release keeps: top level + package __init__, the others)
    while total < target_rows * 0.995:
        remaining = target_rows - total
        for _attempt in range(50):
            tpl = index[rng.randrange(len(index))]
            if tpl["tid"] not in split:
                paths, pkg = tpl["paths"], tpl["pkg"]
                always = {i for i, p in enumerate(paths) if "/" not in p or p == pkg + "/__init__.py" or p == pkg}
                split[tpl["tid"]] = (always, [i for i in range(len(paths)) if i not in always])
            aset, others = split[tpl["tid"]]
            # heavy-tailed size: median ~10 files, a few % over a thousand (when the template has them)
            n = min(len(others), max(2, int(4 * (1.0 - rng.random()) ** (-1 / 0.75))))
            start = rng.randrange(0, len(others) - n + 1) if others else 0
            window = others[start:start + n]
            kept = sorted(aset.union(window))
            per = _release_rows(tpl, kept)
            limit = min(cap, remaining * 1.2)
            while per > limit and len(window) > 1:
                window = window[: len(window) // 2]
                kept = sorted(aset.union(window))
                per = _release_rows(tpl, kept)
            if per <= limit:
                break
        else:
            break  # no template is small enough for what is left: the target is met within a few rows
        releases = min(MAX_RELEASES, int((1.0 - rng.random()) ** (-1 / 1.1)))  # P(R >= k) = k^-1.1
        releases = max(1, min(releases, cap // per, max(1, remaining // per)))
        name = make_name(rng, taken)
        end = T_END - 3600 * MAX_RELEASES  # room for the hour between releases below
        t0 = T_START + rng.random() * (end - T_START - 86400 * 30)
        times = sorted(t0 + rng.random() * (end - t0) for _ in range(releases - 1))
        times = [int(t) for t in [t0] + times]
        for i in range(1, len(times)):
            times[i] = max(times[i], times[i - 1] + 3600)
        v = rng.choice([(0, 1, 0), (0, 0, 1), (1, 0, 0), (0, 1, 0)])
        versions = []
        for _ in range(releases):
            versions.append("%d.%d.%d" % v)
            v = _bump(rng, v)
        words = [rng.choice(WORDS) for _ in range(3)]
        projects.append({
            "idx": len(projects),
            "name": name,
            "tid": tpl["tid"],
            "kept": kept,
            "releases": list(zip(versions, times)),
            "next_version": "%d.%d.%d" % v,
            "rows_per_release": per,
            "summary": "A %s %s library for %s" % (words[0], words[1], words[2]),
            "license": rng.choice(LICENSES),
            "requires_python": rng.choice(PYTHONS),
            "classifiers": ["Programming Language :: Python :: 3", "Topic :: " + rng.choice(TOPICS)],
            "style": rng.choice(["pyproject", "pyproject", "setup.py"]),
        })
        total += per * releases
    n2 = max(1, round(0.01 * len(projects)))
    phase2 = sorted(rng.sample(range(len(projects)), min(n2, len(projects))))
    for k, i in enumerate(phase2):
        projects[i]["phase2"] = [projects[i]["next_version"], T_PHASE2 + 60 * k]
    needle = "pycorpus_scale_needle_s%s" % seed
    for i in rng.sample(range(len(projects)), min(3, len(projects))):
        projects[i]["needle"] = needle
    return {"projects": projects, "expected_rows": total, "needle": needle, "phase2": phase2}


# --------------------------------------------------------------------------------------------
# Generation: one project per task, in a process pool
# --------------------------------------------------------------------------------------------

VERSION_PATTERNS = [
    (re.compile(rb"""(__version__\s*=\s*['"])[^'"\n]*(['"])"""), None),
    (re.compile(rb"""(?m)^(version\s*=\s*")[^"\n]*(")"""), "pyproject.toml"),
    (re.compile(rb"""(?m)^(version\s*=\s*)(?!attr:|file:)[^\s#]+()"""), "setup.cfg"),
    (re.compile(rb"""(\bversion\s*=\s*['"])[^'"\n]*(['"])"""), "setup.py"),
]
INDENT = re.compile(rb"^[ \t]*")
IDENT = re.compile(rb"(?<![\w.])[A-Za-z_][A-Za-z0-9_]*")
# strings (any prefix, triple-quoted or not), comments, or a name that is not an attribute
CODE_TOKEN = re.compile(
    rb"(?P<string>(?<!\w)[rRbBuUfF]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'))"
    rb"|(?P<comment>\#[^\n]*)"
    rb"|(?P<name>(?<![\w.])[A-Za-z_][A-Za-z0-9_]*)")
IMPORT_LINE = re.compile(rb"(?m)^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+[^\n]*")
LOWER = re.compile(rb"[a-z]")
FUTURE_FEATURES = ["nested_scopes", "generators", "division", "absolute_import", "with_statement", "print_function",
                   "unicode_literals", "barry_as_FLUFL", "generator_stop", "annotations"]
KEEP_IDENTS = frozenset(w.encode() for w in keyword.kwlist + keyword.softkwlist + dir(builtins) + FUTURE_FEATURES
                        + ["self", "cls", "mcs", "args", "kwargs", "match", "case", "type"])
RENAME_PERCENT = 35
WORDS_B = [w.encode() for w in WORDS]


def template_slices(tpl, indices):
    """(path, offset, size) of the files `indices` of template `tpl` (an index entry)."""
    offsets, at = [], 0
    for n in tpl["sizes"]:
        offsets.append(at)
        at += n
    return [(tpl["paths"][i], offsets[i], tpl["sizes"][i]) for i in indices]


def _read_template_files(tdir, tid, slices):
    fd = os.open(os.path.join(tdir, "%05d.dat" % tid), os.O_RDONLY)
    try:
        return [(path, os.pread(fd, size, offset)) for path, offset, size in slices]
    finally:
        os.close(fd)


def _is_text(path, data):
    return os.path.splitext(path)[1].lower() in TEXT_EXTS and b"\x00" not in data[:1024]


def _comment(path, text):
    ext = os.path.splitext(path)[1].lower()
    if ext in HASH_COMMENT:
        return b"# " + text
    if ext in SLASH_COMMENT:
        return b"/* " + text + b" */"
    if ext in HTML_COMMENT:
        return b"<!-- " + text + b" -->"
    if ext == ".rst":
        return b".. " + text
    return None


class Project:
    """One project's files as they evolve from release to release (sdist-relative paths)."""

    def __init__(self, spec, tdir):
        self.spec = spec
        self.rng = random.Random("pycorpus-scale-project:%s:%d" % (spec["seed"], spec["idx"]))
        self.ident = spec["name"].replace("-", "_")
        old_pkg = spec["pkg"]
        if old_pkg.endswith(".py"):
            old_name, new_pkg = old_pkg[:-3].rsplit("/", 1)[-1], self.ident + ".py"
        else:
            old_name = old_pkg.rsplit("/", 1)[-1]
            new_pkg = old_pkg[: -len(old_name)] + self.ident
        self.pkg = new_pkg
        rename = None
        if old_name not in COMMON_NAMES and len(old_name) >= 3:
            rename = re.compile(rb"(?<![A-Za-z0-9_])" + re.escape(old_name.encode()) + rb"(?![A-Za-z0-9_])")
        tag = ("%s" % spec["name"]).encode()
        self.salt = zlib.crc32(tag + b":")
        self.idmap = {self.ident.encode(): self.ident.encode()}
        self.files = {}
        for path, data in _read_template_files(tdir, spec["tid"], spec["slices"]):
            if path == old_pkg or path.startswith(old_pkg + "/"):
                path = new_pkg + path[len(old_pkg):]
            if _is_text(path, data):
                new = rename.sub(self.ident.encode(), data) if rename else data
                if path.endswith((".py", ".pyi")) and "/" in path:
                    new = self._vary_identifiers(new)
                base = os.path.basename(path).lower()
                if new == data and not base.startswith(("license", "licence", "copying")):
                    # no occurrence of the package name: still make the blob this project's
                    c = _comment(path, b"part of " + tag)
                    if c is not None and not data.startswith(b"#!"):
                        new = c + b"\n" + data
                data = new
            self.files[path] = data
        self._boilerplate()
        init = new_pkg if new_pkg.endswith(".py") else new_pkg + "/__init__.py"
        self.init = init
        if init not in self.files:
            self.files[init] = b'"""%s."""\n' % spec["summary"].encode()
        self.version_paths = [p for p in self.files if self._has_version(p)]
        if not any(p.endswith(".py") and p != "setup.py" for p in self.version_paths):
            self.files[init] = self.files[init].rstrip(b"\n") + b'\n\n__version__ = "0"\n'
            self.version_paths.append(init)
        self.added = 0
        self.first_count = len(self.files)

    def _vary_identifiers(self, data):
        """Renames about a third of the identifiers of the code, the same way in every file of
        the project (`parse_header` -> `parse_header_maple`): without it the functions of
        projects made from one template would be exact or near duplicates, which
        CodeSearchNet's dedup removes, and the export's records would stop growing with the
        scale. Strings, docstrings and comments are left as they are (the natural language of
        the records stays real), and so are keywords, builtins, dunders, `self`/`cls`,
        attributes (`x.name`) and the names on import lines (the report's imports stay real):
        the file parses as before."""
        keep = set(IDENT.findall(b"\n".join(IMPORT_LINE.findall(data))))
        cache, salt = self.idmap, self.salt

        def sub(m):
            w = m.group(0)
            if m.lastgroup != "name" or w in keep:
                return w
            r = cache.get(w)
            if r is None:
                h = zlib.crc32(w, salt)
                if len(w) < 3 or w in KEEP_IDENTS or w.startswith(b"__") or not LOWER.search(w) or h % 100 >= RENAME_PERCENT:
                    r = w
                else:
                    r = w + b"_" + WORDS_B[h % len(WORDS_B)]
                cache[w] = r
            return r
        return CODE_TOKEN.sub(sub, data)

    def _has_version(self, path):
        data = self.files[path]
        if path.endswith(".py") and b"__version__" in data and VERSION_PATTERNS[0][0].search(data):
            return True
        for pat, name in VERSION_PATTERNS[1:]:
            if path == name and pat.search(data):
                return True
        return False

    def _boilerplate(self):
        s = self.spec
        for name in _boilerplate_missing(list(self.files)):
            if name == "README.md":
                body = "# %s\n\n%s.\n\n## Install\n\n    pip install %s\n\n## Use\n\n```python\nimport %s\n```\n" % (s["name"], s["summary"], s["name"], self.ident)
            elif name == "LICENSE":
                body = "%s License\n\nCopyright (c) %s the %s authors\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software, to deal in the Software without restriction.\n" % (s["license"] or "MIT", time.gmtime(s["releases"][0][1]).tm_year, s["name"])
            elif s["style"] == "setup.py":
                name = "setup.py"
                body = "from setuptools import setup, find_packages\n\nsetup(\n    name=%r,\n    version=\"0\",\n    description=%r,\n    packages=find_packages(),\n    python_requires=%r,\n)\n" % (s["name"], s["summary"], s["requires_python"] or ">=3")
            else:
                body = "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"%s\"\nversion = \"0\"\ndescription = \"%s\"\nrequires-python = \"%s\"\nlicense = {text = \"%s\"}\n" % (s["name"], s["summary"], s["requires_python"] or ">=3", s["license"] or "MIT")
            self.files[name] = body.encode()

    def set_version(self, version):
        v = version.encode()
        for p in self.version_paths:
            data = self.files.get(p)
            if data is None:
                continue
            for pat, name in VERSION_PATTERNS:
                if name is None and p.endswith(".py") or name == p:
                    data = pat.sub(lambda m: m.group(1) + v + m.group(2), data, count=1)
            self.files[p] = data

    # -- churn ------------------------------------------------------------------------------

    def churn(self, fraction, version):
        """Changes about `fraction` of the files: edits lines (most changes), adds a file,
        removes a file. Python edits keep the file parseable: comment lines are inserted,
        edited or deleted anywhere; a small function (with a docstring) is appended."""
        rng = self.rng
        paths = list(self.files)
        k = max(1, int(len(paths) * fraction * rng.uniform(0.5, 1.5) + 0.5))
        # files come and go equally often, with a pull back to the first release's count, so
        # that long histories do not drift away from the rows the plan counted
        n = len(self.files)
        remove = 0.10 if n == self.first_count else (0.15 if n > self.first_count else 0.05)
        for _ in range(k):
            r = rng.random()
            if r < remove and len(self.files) > 3:
                victims = [p for p in self.files if p not in self.version_paths and p != self.init and "/" in p]
                if victims:
                    del self.files[rng.choice(victims)]
                    continue
            if r > 0.80 + remove:
                pys = [p for p in self.files if p.endswith(".py") and _is_text(p, self.files[p])]
                if pys:
                    src = rng.choice(pys)
                    self.added += 1
                    new = "%s_v%d.py" % (src[:-3], self.added)
                    if new not in self.files:
                        self.files[new] = self.files[src] + self._function(version)
                        continue
            texts = [p for p in rng.sample(list(self.files), min(8, len(self.files))) if _is_text(p, self.files[p])]
            if texts:
                p = texts[0]
                self.files[p] = self._edit(p, self.files[p], version)

    def _function(self, version):
        rng = self.rng
        name = "%s_%s" % (rng.choice(WORDS), rng.choice(WORDS))
        arg = rng.choice(["value", "default", "timeout", "options", "key", "path"])
        doc = "Return the %s %s of the %s, added in %s." % (rng.choice(WORDS), arg, rng.choice(WORDS), version)
        return ("\n\ndef %s(self, %s=None):\n    \"\"\"%s\"\"\"\n    if %s is None:\n        return self\n    return %s\n" % (name, arg, doc, arg, arg)).encode()

    def _edit(self, path, data, version):
        rng = self.rng
        lines = data.split(b"\n")
        is_py = path.endswith((".py", ".pyi"))
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            note = ("%s %s %s (%s)" % (rng.choice(WORDS), rng.choice(["fix", "handle", "support", "check", "note:"]), rng.choice(WORDS), version)).encode()
            if op < 0.15 and is_py:
                lines.extend(self._function(version).split(b"\n"))
                continue
            if is_py:
                comments = [i for i, l in enumerate(lines) if l.lstrip().startswith(b"#") and not l.startswith(b"#!") and b"coding" not in l]
                blank = [i for i, l in enumerate(lines) if not l.strip()]
                if op < 0.35 and (comments or blank):  # delete a comment or blank line
                    del lines[rng.choice(comments or blank)]
                    continue
                if op < 0.6 and comments:  # modify a comment line
                    i = rng.choice(comments)
                    lines[i] = INDENT.match(lines[i]).group(0) + b"# " + note
                    continue
                i = rng.randrange(len(lines) + 1)  # insert a comment line, indented like its neighbour
                while i > 0 and lines[i - 1].rstrip().endswith(b"\\"):  # not inside a continued line
                    i -= 1
                ref = lines[i] if i < len(lines) else b""
                lines.insert(i, INDENT.match(ref).group(0) + b"# " + note)
            else:
                i = rng.randrange(len(lines) + 1)
                if op < 0.3 and len(lines) > 1:
                    del lines[min(i, len(lines) - 1)]
                elif op < 0.6 and lines:
                    lines[min(i, len(lines) - 1)] += b" " + note
                else:
                    lines.insert(i, note)
        return b"\n".join(lines)

    # -- archives ---------------------------------------------------------------------------

    def pkg_info(self, version):
        s = self.spec
        out = ["Metadata-Version: 2.1", "Name: %s" % s["name"], "Version: %s" % version, "Summary: %s" % s["summary"]]
        if s["license"]:
            out.append("License: %s" % s["license"])
        if s["requires_python"]:
            out.append("Requires-Python: %s" % s["requires_python"])
        out += ["Classifier: %s" % c for c in s["classifiers"]]
        out.append("Project-URL: Source, https://src.invalid/%s" % s["name"])
        readme = next((p for p in self.files if "/" not in p and p.lower().startswith("readme")), None)
        out.append("Description-Content-Type: text/markdown")
        text = "\n".join(out) + "\n\n"
        if readme and _is_text(readme, self.files[readme]):
            text += self.files[readme][:8192].decode("utf-8", "replace")
        return text.encode()

    def write_release(self, version, when, out_dir, level):
        """Writes the sdist and the wheel of this state; returns their records."""
        top = "%s-%s" % (self.ident, version)
        records = []
        # sdist: <ident>-<version>.tar.gz with <ident>-<version>/... (PEP 625 names)
        members = [(top + "/" + p, d) for p, d in sorted(self.files.items())] + [(top + "/PKG-INFO", self.pkg_info(version))]
        buf = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=level, mtime=when) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
                for name, data in members:
                    ti = tarfile.TarInfo(name)
                    ti.size, ti.mtime, ti.mode = len(data), when, 0o644
                    tf.addfile(ti, io.BytesIO(data))
        records.append(self._save(out_dir, top + ".tar.gz", buf.getvalue(), version, "sdist", when, members))
        # wheel: the package files + dist-info
        if self.pkg.endswith(".py"):
            wfiles = [(self.pkg.rsplit("/", 1)[-1], self.files[self.pkg])] if self.pkg in self.files else []
        else:
            cut = len(self.pkg) - len(self.pkg.rsplit("/", 1)[-1])
            wfiles = [(p[cut:], d) for p, d in sorted(self.files.items()) if p.startswith(self.pkg + "/")]
        di = "%s.dist-info" % top
        wfiles.append((di + "/METADATA", self.pkg_info(version)))
        wfiles.append((di + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: pycorpus-scale (%d)\nRoot-Is-Purelib: true\nTag: py3-none-any\n" % GENERATOR_VERSION))
        record = "".join("%s,sha256=%s,%d\n" % (p, base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode(), len(d)) for p, d in wfiles)
        wfiles.append((di + "/RECORD", (record + di + "/RECORD,,\n").encode()))
        buf = io.BytesIO()
        date = time.gmtime(max(when, 315532800))[:6]
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in wfiles:
                zi = zipfile.ZipInfo(name, date)
                zi.external_attr = 0o644 << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zi, data, compresslevel=level)
        records.append(self._save(out_dir, "%s-py3-none-any.whl" % top, buf.getvalue(), version, "bdist_wheel", when + 30, wfiles))
        return records

    def _save(self, out_dir, filename, data, version, kind, when, members):
        path = os.path.join(out_dir, filename)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
        return {"filename": filename, "version": version, "packagetype": kind, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "upload_time": when, "rows": len(members),
                "ubytes": sum(len(d) for _, d in members)}


def generate_project(task):
    """Pool worker: writes every release of one project (and its second-sync release);
    returns the file records. Skips a project whose records are already on disk (resume)."""
    spec, tdir, site, churn, level = task
    rec_path = os.path.join(site, "records", "%06d.json" % spec["idx"])
    if os.path.exists(rec_path):
        with open(rec_path) as f:
            return json.load(f)
    out_dir = os.path.join(site, "files", spec["name"])
    os.makedirs(out_dir, exist_ok=True)
    proj = Project(spec, tdir)
    files = []
    releases = spec["releases"]
    for r, (version, when) in enumerate(releases):
        if r:
            proj.churn(churn, version)
        proj.set_version(version)
        if spec.get("needle") and r == len(releases) - 1:
            proj.files[proj.init] = proj.files[proj.init].rstrip(b"\n") + b"\n\n# %s: %s\n" % (spec["needle"].encode(), spec["name"].encode())
        for rec in proj.write_release(version, when, out_dir, level):
            rec["phase"] = 1
            files.append(rec)
    if spec.get("phase2"):
        version, when = spec["phase2"]
        proj.churn(churn, version)
        proj.set_version(version)
        for rec in proj.write_release(version, when, out_dir, level):
            rec["phase"] = 2
            files.append(rec)
    out = {"idx": spec["idx"], "files": files}
    with open(rec_path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(rec_path + ".tmp", rec_path)
    return out


# --------------------------------------------------------------------------------------------
# The site: files, pages, manifest
# --------------------------------------------------------------------------------------------

class Site:
    """A generated index on disk: files/<project>/<file>, pages/<phase>/..., manifest.json."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "manifest.json")) as f:
            self.manifest = json.load(f)

    @property
    def files_dir(self):
        return os.path.join(self.path, "files")

    def archives(self, phase=1):
        """(path, sha256) of every archive served in `phase` (2: the new ones only)."""
        out = []
        with open(os.path.join(self.path, "projects.jsonl")) as f:
            for line in f:
                p = json.loads(line)
                for r in p["files"]:
                    if r["phase"] == phase:
                        out.append((os.path.join(self.files_dir, p["name"], r["filename"]), r["sha256"]))
        return out


def site_fingerprint(source_fp, scale, unit_rows, seed, churn, level):
    # the Python version too: its keywords and builtins decide which identifiers are renamed
    key = json.dumps([GENERATOR_VERSION, source_fp, scale, unit_rows, seed, churn, level, list(sys.version_info[:2])])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _json_bytes(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _render_pages(site, projects, records, phase):
    """Writes pages/<phase>/<name>/{json,simple.json,simple.html} and the root pages."""
    base = os.path.join(site, "pages", str(phase))
    os.makedirs(base, exist_ok=True)
    root = []
    for p in projects:
        files = [r for r in records[p["idx"]] if r["phase"] <= phase]
        serial = p["serial2"] if phase == 2 and p.get("serial2") else p["serial"]
        root.append((p["name"], serial))
        if phase == 2 and not p.get("serial2"):
            continue  # unchanged: phase 1's pages serve
        d = os.path.join(base, p["name"])
        os.makedirs(d, exist_ok=True)
        url = lambda r: "../../files/%s/%s" % (p["name"], r["filename"])
        releases = {}
        for r in files:
            releases.setdefault(r["version"], []).append({
                "filename": r["filename"], "url": url(r), "digests": {"sha256": r["sha256"]}, "size": r["size"],
                "upload_time_iso_8601": _fmt_time(r["upload_time"]), "upload_time": _fmt_time(r["upload_time"])[:19],
                "yanked": False, "yanked_reason": None, "packagetype": r["packagetype"],
                "requires_python": p["requires_python"] or None, "python_version": "source" if r["packagetype"] == "sdist" else "py3"})
        latest = files[-1]["version"]
        info = {"name": p["name"], "version": latest, "summary": p["summary"], "license": p["license"], "requires_python": p["requires_python"],
                "classifiers": p["classifiers"], "project_urls": {"Source": "https://src.invalid/%s" % p["name"]}}
        _write(os.path.join(d, "json"), _json_bytes({"info": info, "last_serial": serial, "releases": releases, "urls": releases[latest]}))
        simple_files = [{"filename": r["filename"], "url": url(r), "hashes": {"sha256": r["sha256"]}, "requires-python": p["requires_python"] or None,
                         "size": r["size"], "upload-time": _fmt_time(r["upload_time"]), "yanked": False} for r in files]
        _write(os.path.join(d, "simple.json"), _json_bytes({"meta": {"api-version": "1.1", "_last-serial": serial}, "name": p["name"],
                                                           "files": simple_files, "versions": list(releases)}))
        anchors = "".join('<a href="%s#sha256=%s"%s>%s</a><br/>\n' % (html.escape(url(r)), r["sha256"],
                          ' data-requires-python="%s"' % html.escape(p["requires_python"]) if p["requires_python"] else "", r["filename"]) for r in files)
        _write(os.path.join(d, "simple.html"), ("<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for %s</title></head>\n<body><h1>Links for %s</h1>\n%s</body></html>\n"
                                               % (p["name"], p["name"], anchors)).encode())
    _write(os.path.join(base, "_root.json"), _json_bytes({"meta": {"api-version": "1.1", "_last-serial": max(s for _, s in root)},
                                                         "projects": [{"name": n, "_last-serial": s} for n, s in root]}))
    _write(os.path.join(base, "_root.html"), ("<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head>\n<body>\n%s</body></html>\n"
                                             % "".join('<a href="/simple/%s/">%s</a>\n' % (n, n) for n, _ in root)).encode())


def estimate_disk(pool, plan):
    """Expected archive bytes of a plan: its releases' uncompressed bytes (sdist + the package
    files again in the wheel) x 0.32 (gzip/deflate at levels 1-3 of this mix of source text and
    some binaries: 0.28 measured on corpus-v1 templates; the churn adds little)."""
    tindex = {e["tid"]: e for e in pool.index}
    total = 0
    for p in plan["projects"]:
        e = tindex[p["tid"]]
        pkg = e["pkg"]
        one = sum(e["sizes"][i] * (2 if _in_package(e["paths"][i], pkg) else 1) for i in p["kept"])
        total += one * (len(p["releases"]) + (1 if p.get("phase2") else 0))
    return int(total * 0.32)


def _free_bytes(path):
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return shutil.disk_usage(path).free


def _tree_bytes(path):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def ensure_space(work, need, keep=(), log=print):
    """Frees cached sites (least recently used first, never those in `keep`) until `need` bytes
    are free; returns False when that is not possible."""
    sites = os.path.join(work, "sites")
    if _free_bytes(work) >= need:
        return True
    cands = []
    if os.path.isdir(sites):
        for d in os.listdir(sites):
            p = os.path.join(sites, d)
            if p not in keep:
                cands.append((os.path.getmtime(p), p))
    reclaimable = sum(_tree_bytes(p) for _, p in cands)
    if _free_bytes(work) + reclaimable < need:
        return False  # removing every other cached site would not be enough: keep them
    for _, p in sorted(cands):
        log("  freeing disk space: removing the cached site %s" % p)
        shutil.rmtree(p, ignore_errors=True)
        if _free_bytes(work) >= need:
            return True
    return _free_bytes(work) >= need


def generate_site(source, work, scale, unit_rows, seed=1, churn=0.03, level=3, jobs=2, corpus_factor=0.3, log=print, pool=None, keep=()):
    """Generates (or finds in the cache) the site of `scale` x `unit_rows` file rows. Returns
    a Site. Refuses (SystemExit) when the disk cannot hold the archives and the corpus.
    `pool`: the templates of `source`, when the caller has read them already (a run reads them
    once, so that every scale is made of the same files even if the source changes meanwhile).
    `keep`: other cached sites that freeing disk space must not remove."""
    pool = pool or build_templates(source, work, jobs=jobs, log=log)
    target = int(round(scale * unit_rows))
    fp = site_fingerprint(pool.fingerprint, scale, unit_rows, seed, churn, level)
    site = os.path.join(work, "sites", fp)
    if os.path.exists(os.path.join(site, "manifest.json")):
        os.utime(site)
        s = Site(site)
        m = s.manifest
        log("site %gx: cached in %s (%s rows, %.2f GB of archives)" % (scale, site, format(m["rows"], ","), m["archive_bytes"] / 1e9))
        if not ensure_space(work, int(m["archive_bytes"] * corpus_factor) + (1 << 30), keep=(site,) + tuple(keep), log=log):
            raise SystemExit("not enough free disk space for the corpus of %gx: need ~%.1f GB free under %s" % (scale, (m["archive_bytes"] * corpus_factor + 2**30) / 1e9, work))
        return s
    # the estimate from a plan of at most 200,000 rows (the same per row), before the full plan
    sample = plan_site(pool, min(target, 200_000), seed, churn)
    est = int(estimate_disk(pool, sample) / max(1, sample["expected_rows"]) * target)
    need = int(est * (1 + corpus_factor)) + (1 << 30)
    log("site %gx: %s rows; estimated %.1f GB of archives, %.1f GB free needed with the corpus (free now: %.1f GB)"
        % (scale, format(target, ","), est / 1e9, need / 1e9, _free_bytes(work) / 1e9))
    if not ensure_space(work, need, keep=(site,) + tuple(keep), log=log):
        raise SystemExit("refusing to generate %gx: it needs about %.1f GB free under %s (archives %.1f GB + corpus), only %.1f GB are free. "
                         "Free some space or pass a smaller --scale." % (scale, need / 1e9, work, est / 1e9, _free_bytes(work) / 1e9))
    plan = plan_site(pool, target, seed, churn) if target > 200_000 else sample
    projects = plan["projects"]
    tindex = {e["tid"]: e for e in pool.index}
    os.makedirs(os.path.join(site, "records"), exist_ok=True)
    os.makedirs(os.path.join(site, "files"), exist_ok=True)
    tasks = []
    for p in projects:
        spec = dict(p, seed=seed, pkg=tindex[p["tid"]]["pkg"], slices=template_slices(tindex[p["tid"]], p["kept"]))
        tasks.append((spec, pool.dir, site, churn, level))
    # biggest first (load balance); projects of one template close together (template cache)
    tasks.sort(key=lambda t: (-t[0]["rows_per_release"] * len(t[0]["releases"]), t[0]["tid"]))
    t0 = time.perf_counter()
    records = {}
    done_bytes = done_rows = 0
    last = t0
    with multiprocessing.Pool(jobs) as mp:
        for i, out in enumerate(mp.imap_unordered(generate_project, tasks, chunksize=1)):
            records[out["idx"]] = out["files"]
            done_bytes += sum(r["size"] for r in out["files"])
            done_rows += sum(r["rows"] for r in out["files"] if r["phase"] == 1)
            if time.perf_counter() - last > 10:
                last = time.perf_counter()
                log("  %d/%d projects, %s rows, %.2f GB, %.1f MB/s" % (i + 1, len(tasks), format(done_rows, ","), done_bytes / 1e9, done_bytes / 1e6 / (last - t0)))
    gen_s = time.perf_counter() - t0
    # serials: the index's event counter, in upload order; phase 2 comes after everything
    uploads = sorted((r["upload_time"], r["filename"], idx) for idx, rs in records.items() for r in rs if r["phase"] == 1)
    last_serial = {}
    for serial, (_, _, idx) in enumerate(uploads, 1):
        last_serial[idx] = serial
    serial = len(uploads)
    for p in projects:
        p["serial"] = last_serial[p["idx"]]
    for i in plan["phase2"]:
        serial += 2
        projects[i]["serial2"] = serial
    _render_pages(site, projects, records, 1)
    _render_pages(site, projects, records, 2)
    with open(os.path.join(site, "projects.jsonl"), "w") as f:
        for p in projects:
            f.write(json.dumps({"name": p["name"], "serial": p["serial"], "serial2": p.get("serial2"), "files": records[p["idx"]]}) + "\n")
    ph1 = [r for rs in records.values() for r in rs if r["phase"] == 1]
    ph2 = [r for rs in records.values() for r in rs if r["phase"] == 2]
    manifest = {
        "generator": GENERATOR_VERSION, "source": source, "source_fingerprint": pool.fingerprint, "scale": scale, "unit_rows": unit_rows,
        "target_rows": target, "seed": seed, "churn": churn, "gzip_level": level, "projects": len(projects), "templates": len(pool),
        "releases": sum(len(p["releases"]) for p in projects), "files": len(ph1), "rows": sum(r["rows"] for r in ph1),
        "archive_bytes": sum(r["size"] for r in ph1), "uncompressed_bytes": sum(r["ubytes"] for r in ph1),
        "sdist_bytes": sum(r["size"] for r in ph1 if r["packagetype"] == "sdist"),
        "phase2_projects": len(plan["phase2"]), "phase2_files": len(ph2), "phase2_bytes": sum(r["size"] for r in ph2), "phase2_rows": sum(r["rows"] for r in ph2),
        "needle": plan["needle"], "needle_projects": [p["name"] for p in projects if p.get("needle")],
        "max_releases": max(len(p["releases"]) for p in projects),
        "generation_s": round(gen_s, 2), "jobs": jobs,
        "generation_mb_s": round((sum(r["size"] for r in ph1) + sum(r["size"] for r in ph2)) / 1e6 / max(gen_s, 1e-9), 2),
        "generation_uncompressed_mb_s": round((sum(r["ubytes"] for r in ph1) + sum(r["ubytes"] for r in ph2)) / 1e6 / max(gen_s, 1e-9), 2),
        "estimated_archive_bytes": est,
    }
    with open(os.path.join(site, "manifest.json.tmp"), "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(os.path.join(site, "manifest.json.tmp"), os.path.join(site, "manifest.json"))
    shutil.rmtree(os.path.join(site, "records"), ignore_errors=True)
    s = Site(site)
    m = s.manifest
    log("site %gx: generated in %.1f s into %s: %d projects, %d releases (max %d per project), %d files; %s rows (target %s, %+.1f %%); "
        "%.2f GB of archives (%.1f MB/s), %.2f GB uncompressed; second sync: %d new files of %d projects"
        % (scale, gen_s, site, m["projects"], m["releases"], m["max_releases"], m["files"], format(m["rows"], ","), format(target, ","),
           100.0 * (m["rows"] - target) / target, m["archive_bytes"] / 1e9, m["generation_mb_s"], m["uncompressed_bytes"] / 1e9, m["phase2_files"], m["phase2_projects"]))
    return s


# --------------------------------------------------------------------------------------------
# Serving the site like the index
# --------------------------------------------------------------------------------------------

def _normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pycorpus-scale"
    # Headers and body go out as separate writes: with Nagle's algorithm the body waits for
    # the client's delayed ACK (40 ms per request on Linux), which made the server, not the
    # client, set the pace of every sync measured before 2026-12-04 21:50.
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def _send(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _page(self, name, kind):
        srv = self.server
        for phase in ((2, 1) if srv.phase == 2 else (1,)):
            p = os.path.join(srv.site, "pages", str(phase), name, kind)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    return f.read()
        return None

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):  # noqa: C901  (one route per branch)
        srv = self.server
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        parts = [p for p in path.split("/") if p]
        wants_json = JSON_TYPE in self.headers.get("Accept", "")
        srv.count(parts[0] if parts else "/")
        if parts == ["simple"]:
            kind = "_root.json" if wants_json else "_root.html"
            with open(os.path.join(srv.site, "pages", str(srv.phase), kind), "rb") as f:
                return self._send(200, f.read(), JSON_TYPE if wants_json else "text/html; charset=utf-8")
        if len(parts) == 2 and parts[0] == "simple":
            norm = _normalize(parts[1])
            if parts[1] != norm or not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", "/simple/%s/" % norm)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self._page(norm, "simple.json" if wants_json else "simple.html")
            if body is None:
                return self._send(404, b"not found", "text/plain")
            return self._send(200, body, JSON_TYPE if wants_json else "text/html; charset=utf-8")
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            body = self._page(_normalize(parts[1]), "json")
            if body is None:
                return self._send(404, b'{"message": "Not Found"}', "application/json")
            return self._send(200, body, "application/json")
        if len(parts) == 3 and parts[0] == "files" and ".." not in parts:
            fp = os.path.join(srv.site, "files", parts[1], parts[2])
            if not os.path.isfile(fp):
                return self._send(404, b"not found", "text/plain")
            size = os.path.getsize(fp)
            start = 0
            m = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
            if m and int(m.group(1)) < size:
                start = int(m.group(1))
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
            else:
                self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if self.command != "HEAD":
                with open(fp, "rb") as f:
                    self.connection.sendfile(f, start)
            srv.add_bytes(size - start)
            return
        self._send(404, b"not found", "text/plain")


class IndexServer(http.server.ThreadingHTTPServer):
    """Serves a Site on 127.0.0.1 (an ephemeral port). `phase` 1 serves the first pipeline's
    index; set_phase(2) publishes the second-sync releases (their projects' serials grow)."""
    daemon_threads = True

    def __init__(self, site):
        self.site = site.path if isinstance(site, Site) else site
        self.phase = 1
        self._lock = threading.Lock()
        self.hits = {}
        self.bytes_sent = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/simple/" % self.server_address[1]

    def count(self, key):
        with self._lock:
            self.hits[key] = self.hits.get(key, 0) + 1

    def add_bytes(self, n):
        with self._lock:
            self.bytes_sent += n

    def reset_counters(self):
        with self._lock:
            self.hits, self.bytes_sent = {}, 0

    def set_phase(self, phase):
        self.phase = phase

    def start(self):
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()


# --------------------------------------------------------------------------------------------
# Measuring the pipeline
# --------------------------------------------------------------------------------------------

# Every step runs under this small launcher, which spawns the command and reports the command's
# own os.wait4 rusage. Measuring the command as our direct child would not do: Linux carries a
# process's peak RSS across exec, and a child spawned (fork or vfork) from this script starts
# with this script's peak (tens of MB, growing with the results it holds). The launcher's own
# is ~10 MB, so peak RSS figures under ~10 MB mean "at most the launcher's".
LAUNCHER = r"""
import json, os, sys, time
t = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "wall": wall, "utime": ru.ru_utime, "stime": ru.ru_stime, "maxrss_kb": ru.ru_maxrss}, f)
"""


class Usage:
    """What os.wait4 said of a command: ru_utime, ru_stime, ru_maxrss (KB)."""

    def __init__(self, d):
        self.ru_utime, self.ru_stime, self.ru_maxrss = d["utime"], d["stime"], d["maxrss_kb"]


def run_measured(argv, stdout=None, env=None, cwd=None):
    """Runs argv to completion under the launcher; returns (exit code, wall s, Usage, stderr
    bytes). stdout: a path (written there) or None (/dev/null)."""
    tag = stdout or os.path.join("/tmp", "pycorpus-scale-%d" % os.getpid())
    err_path, ru_path = tag + ".stderr", tag + ".rusage"
    with open(stdout or os.devnull, "wb") as out, open(err_path, "wb") as err:
        r = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, ru_path] + list(argv), stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd)
    with open(err_path, "rb") as f:
        stderr = f.read()
    os.unlink(err_path)
    if not os.path.exists(ru_path):  # the launcher itself failed (e.g. no such command)
        return (r.returncode or 127), 0.0, Usage({"utime": 0.0, "stime": 0.0, "maxrss_kb": 0}), stderr
    with open(ru_path) as f:
        d = json.load(f)
    os.unlink(ru_path)
    return d["code"], d["wall"], Usage(d), stderr


def _count_lines(path):
    n = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            n += block.count(b"\n")
    return n


def _json_file(path):
    """The JSON document a step printed (the first line when it printed JSON lines)."""
    with open(path, "rb") as f:
        data = f.read().strip()
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError:
        return json.loads(data.split(b"\n", 1)[0])


def _scan_stats(stderr):
    """The counts `--stats` prints on stderr: the scan's rows, and what `stream` wrote."""
    num = lambda b: int(b.replace(b",", b""))
    out = {}
    m = re.search(rb"scan: .*?([\d,]+) row\(s\) read, ([\d,]+) matched", stderr)
    if m:
        out.update(rows_read=num(m.group(1)), rows_matched=num(m.group(2)))
    m = re.search(rb"stream: ([\d,]+) record\(s\), ([\d,]+) byte\(s\) written", stderr)
    if m:
        out.update(records_written=num(m.group(1)), bytes_written=num(m.group(2)))
    return out


ITER_FILES = r'''
import json, sys, time
try:
    import pycorpus
except Exception as e:
    print(json.dumps({"skipped": "import pycorpus failed: %s: %s" % (type(e).__name__, e)}))
    sys.exit(0)
t = time.perf_counter()
n = b = 0
for row, data in pycorpus.Corpus(sys.argv[1]).iter_files(ext="py", unique=True, progress=False):
    n += 1
    b += len(data)
print(json.dumps({"files": n, "bytes": b, "seconds": time.perf_counter() - t}))
'''


def parse_steps(spec):
    if not spec:
        return list(OPTIONAL_STEPS)
    wanted = []
    for s in spec.split(","):
        s = s.strip()
        if not s:
            continue
        names = STEP_GROUPS.get(s, (s,))
        for n in names:
            if n not in OPTIONAL_STEPS and n not in REQUIRED_STEPS:
                raise SystemExit("unknown step %r; steps: %s (grep = the three greps)" % (s, ", ".join(REQUIRED_STEPS + OPTIONAL_STEPS)))
            if n in OPTIONAL_STEPS and n not in wanted:
                wanted.append(n)
    return [s for s in OPTIONAL_STEPS if s in wanted]


def shard_capacity(unit_rows):
    """corpus.toml settings that split a 1x corpus into 4 shards (3 full, the last one open
    until `seal`): the same at every scale, so the number of shards grows with it (32x: ~122).
    The file count decides; the byte cap (~2 KB of unique blobs per row, corpus-v1 and the
    generated sites have 3-4) is a safety net that keeps a shard well under the 2 GiB default."""
    return {"shard_capacity_files": max(1000, int(unit_rows * 0.265)), "shard_capacity_bytes": max(1 << 20, unit_rows * 2000)}


def corpus_settings(unit_rows, memory_budget=None):
    """Everything the run writes into corpus.toml: the shard capacity, and the memory budget
    when one is given (None: the corpus's default, 1 GiB)."""
    cfg = shard_capacity(unit_rows)
    if memory_budget:
        cfg["memory_budget_bytes"] = memory_budget
    return cfg


def independent_checks(binary, corpus, out_dir, steps, log=print):
    """bench/check_scale.py's checks of what export and report printed (before the second
    sync changes the corpus); not timed."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import check_scale
    out = {}
    tables = os.path.join(out_dir, "report-tables")
    if "report" in steps and os.path.isdir(tables):
        out["report"] = check_scale.check_report(corpus, tables)
        log("  check report against DuckDB: %s (%s)" % ("ok" if out["report"]["ok"] else "FAILED", out["report"]["problems"] or out["report"]["units"]))
    summary = os.path.join(out_dir, "export.json")
    if "export" in steps and os.path.isfile(summary):
        work = os.path.join(out_dir, "export-check")
        try:
            out["export"] = check_scale.check_export(binary, corpus, summary, work, log=log)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        e = out["export"]
        log("  check export shard by shard + Python dedup: %s (%s vs %s)" % ("ok" if e["ok"] else "FAILED", e["records"], e["export_records"]))
    return out


def measure(name, argv, binary, stdout=None, count=None, env=None, log=print):
    """Runs one step's command: exit, wall and CPU seconds, peak RSS, and `count(stdout path,
    stderr bytes)` when it succeeds."""
    shown = [os.path.basename(a) if a == binary else ("<script>" if "\n" in a else a) for a in argv]
    if len(shown) > 16:  # add-fixed's list of files
        shown = shown[:12] + ["... %d more" % (len(shown) - 12)]
    log("  %-12s %s" % (name, " ".join(shown)))
    code, wall, ru, stderr = run_measured(argv, stdout=stdout, env=env)
    ok = code == 0 or (name.startswith("grep") and code == 1)  # grep: 1 = no match
    cpu = ru.ru_utime + ru.ru_stime
    r = {"argv": shown, "exit": code, "ok": ok, "wall_s": round(wall, 3),
         "cpu_s": round(cpu, 3), "user_s": round(ru.ru_utime, 3), "sys_s": round(ru.ru_stime, 3), "peak_rss_mb": round(ru.ru_maxrss / 1024, 1)}
    if not ok:
        r["stderr_tail"] = stderr[-3000:].decode("utf-8", "replace")
        log("    FAILED (exit %d): %s" % (code, r["stderr_tail"].strip().splitlines()[-1:] if r["stderr_tail"].strip() else ""))
    elif count:
        try:
            r["counts"] = count(stdout, stderr)
        except Exception as e:  # noqa: BLE001  (a count we could not read is recorded, not fatal)
            r["counts"] = {"error": "%s: %s" % (type(e).__name__, e)}
    log("    %.2f s wall, %.2f s CPU, %.0f MB peak%s" % (wall, cpu, r["peak_rss_mb"], ("; " + json.dumps(r["counts"])) if r.get("counts") else ""))
    return r


def set_input(r, kind, gb, rows):
    """What a step's rates are per: `kind` (archives, corpus = its unique blobs, open shard,
    written, none), its GB and its rows."""
    r.update({"input": kind, "input_gb": round(gb, 6), "input_rows": rows,
              "s_per_gb": round(r["wall_s"] / gb, 3) if gb else None, "s_per_mrows": round(r["wall_s"] / (rows / 1e6), 3) if rows else None})


def set_open_shard_input(r, open_shards):
    """A seal's input: the shards it seals (`status` records of the open ones), not the corpus."""
    set_input(r, "open shard", sum(sh.get("blob_bytes", 0) for sh in open_shards) / 1e9, sum(sh.get("files", 0) for sh in open_shards))


# The steps that only read the corpus, in run order.
READER_STEPS = ("status", "verify", "analyze", "report", "export", "grep-rare", "grep-common", "grep-regex", "ls", "stream", "iter_files")
# Those rerun side by side across the scales (see side_by_side): all but analyze and export,
# which take minutes each at 32x and run once.
SIDE_BY_SIDE_STEPS = ("verify", "report", "grep-rare", "grep-common", "grep-regex", "ls", "stream", "iter_files")


def _lines_and_stats(p, e):
    n = _count_lines(p)
    os.unlink(p)
    return {"matches": n} | _scan_stats(e)


def reader_step(name, base, outp, needle, python, corpus):
    """The command of a step that only reads the corpus: (argv, stdout path or None, count)."""
    def one_json(keys, p):
        d = _json_file(p)
        return {k: d.get(k) for k in keys}
    if name == "status":
        return base + ["status", "--format", "jsonl"], outp("status2.json"), lambda p, e: {"shards": len(_json_file(p).get("shards", [])), "files": _json_file(p).get("total", {}).get("files")}
    if name == "verify":
        return base + ["verify", "--format", "jsonl"], outp("verify.json"), \
            lambda p, e: one_json(("shards_checked", "blobs_checked", "files_checked"), p) | {"problems": len(_json_file(p).get("problems", []))}
    if name == "analyze":
        return base + ["analyze", "--json"], outp("analyze.json"), \
            lambda p, e: one_json(("analyzed", "by_status"), p) | {"selection_bytes": _json_file(p).get("visit", {}).get("candidate_bytes")}
    if name == "report":
        return base + ["report", "-o", outp("report/report.html"), "--parquet", outp("report-tables"), "--json"], outp("report.json"), \
            lambda p, e: {"totals": _json_file(p).get("totals"), "parquet_tables": len(_json_file(p).get("parquet", []))}
    if name == "export":
        def export_counts(p, e):
            d = _json_file(p)
            return {"blobs": d.get("blobs"), "functions": d.get("functions"), "records": sum((d.get("records") or {}).values())}
        return base + ["export", "codesearchnet", outp("csn"), "--json"], outp("export.json"), export_counts
    if name == "grep-rare":
        return base + ["grep", "-F", needle, "--json", "--stats"], outp("grep-rare.jsonl"), _lines_and_stats
    if name == "grep-common":
        return base + ["grep", "-F", "import os", "--ext", "py", "--json", "--stats"], outp("grep-common.jsonl"), _lines_and_stats
    if name == "grep-regex":
        return base + ["grep", r"def \w+\(self, \w+=None\)", "--ext", "py", "--json", "--stats"], outp("grep-regex.jsonl"), _lines_and_stats
    if name == "ls":
        return base + ["ls", "--project", "a*", "--ext", "py", "--format", "jsonl", "--stats"], outp("ls.jsonl"), \
            lambda p, e: {("rows" if k == "matches" else k): v for k, v in _lines_and_stats(p, e).items()}
    if name == "stream":
        return base + ["stream", "--ext", "py", "--stats"], None, lambda p, e: _scan_stats(e)
    if name == "iter_files":
        return [python, "-c", ITER_FILES, corpus], outp("iter_files.json"), lambda p, e: _json_file(p)
    raise ValueError("not a reading step: %s" % name)


def after_reader(name, r, outp, sizes):
    """What a reading step leaves to tidy, and the unit of the steps whose work is not the
    corpus's unique blobs."""
    if name == "export":
        shutil.rmtree(outp("csn"), ignore_errors=True)
    if name == "stream" and r.get("ok") and (r.get("counts") or {}).get("bytes_written") is not None:
        # jsonl writes each file's contents once per file holding them: the work follows
        # the bytes written, not the unique bytes read
        set_input(r, "written", r["counts"]["bytes_written"] / 1e9, sizes["rows"])
    if name == "iter_files" and (r.get("counts") or {}).get("skipped"):
        r["skipped"] = r["counts"]["skipped"]


def run_pipeline(binary, site, work_dir, unit_rows, steps, python=sys.executable, log=print, jobs=4, memory_budget=None, check=False, fixed=None):
    """Runs every step against `site`; returns {"steps": {...}, "corpus": status totals, "checks": [...]}.
    The corpus lives in work_dir/corpus (the caller deletes work_dir unless --keep). `fixed`: the
    Site of the fixed batch (steps add-fixed and seal-fixed)."""
    os.makedirs(work_dir, exist_ok=True)
    corpus = os.path.join(work_dir, "corpus")
    out_dir = os.path.join(work_dir, "out")
    os.makedirs(out_dir, exist_ok=True)
    m = site.manifest
    res = {"steps": {}, "checks": [], "corpus": {}}
    server = IndexServer(site).start()
    env = dict(os.environ)
    env.pop("PYCORPUS_DIR", None)
    base = [binary, "--corpus", corpus, "--quiet"]
    sizes = {"rows": m["rows"], "gb": m["archive_bytes"] / 1e9}

    def step(name, argv, stdout=None, count=None, input_kind="corpus", penv=None):
        r = measure(name, argv, binary, stdout=stdout, count=count, env=penv or env, log=log)
        set_input(r, input_kind, sizes["gb"] if input_kind == "archives" else sizes.get("unique_gb", 0.0), sizes["rows"])
        res["steps"][name] = r
        return r

    def outp(name):
        return os.path.join(out_dir, name)

    try:
        step("init", base + ["init"])
        cfg = os.path.join(corpus, "corpus.toml")
        if os.path.exists(cfg):
            text = open(cfg).read()
            for k, v in corpus_settings(unit_rows, memory_budget).items():
                text, n = re.subn(r"(?m)^%s\s*=\s*\d+" % k, "%s = %d" % (k, v), text)
                if not n:
                    text = "%s = %d\n" % (k, v) + text
            with open(cfg, "w") as f:
                f.write(text)
            res["config"] = corpus_settings(unit_rows, memory_budget)

        def sync_counts(path, _err):
            s = _json_file(path)
            add = s.get("add", {})
            return {"projects": s.get("projects"), "unchanged_projects": s.get("unchanged_projects"), "planned": s.get("planned_files", len(s.get("planned", []))),
                    "downloaded": s.get("downloaded"), "downloaded_bytes": s.get("downloaded_bytes"), "failures": len(s.get("failures", [])),
                    "add_failures": len(add.get("failures", []) or []), "sealed_shards": len(add.get("sealed_shards", []) or [])}
        sync_argv = base + ["sync", "--all", "--index-url", server.url, "--jobs", str(jobs), "--json"]
        r = step("sync", sync_argv, stdout=outp("sync.json"), count=sync_counts, input_kind="archives")
        res["server"] = {"sync": dict(server.hits, bytes=server.bytes_sent)}
        if r["ok"] and r.get("counts", {}).get("downloaded") != m["files"]:
            res["checks"].append("sync downloaded %s files, the index serves %d" % (r.get("counts", {}).get("downloaded"), m["files"]))

        def status():
            code, _, _, _ = run_measured(base + ["status", "--format", "jsonl"], stdout=outp("status.json"), env=env)
            return _json_file(outp("status.json")) if code == 0 else {}
        st = status()
        open_shards = [sh for sh in st.get("shards", []) if sh.get("state") == "open"]
        if open_shards:
            r = step("seal", base + ["seal", "--json"], stdout=outp("seal.json"))
            # its input: the open shard, not the corpus (sync sealed the full ones as it went)
            set_open_shard_input(r, open_shards)
        st = status()
        tot = st.get("total", {})
        res["corpus"] = {k: tot.get(k) for k in ("distributions", "failed", "files", "stored_files", "unique_blobs", "blob_bytes", "original_bytes", "disk_bytes")}
        res["corpus"]["shards"] = len(st.get("shards", []))
        sizes["rows"] = tot.get("files") or m["rows"]
        sizes["unique_gb"] = (tot.get("blob_bytes") or 0) / 1e9
        if "init" in res["steps"]:
            set_input(res["steps"]["init"], "none", 0.0, 0)
        if tot.get("distributions") is not None and tot.get("distributions") != m["files"]:
            res["checks"].append("the corpus holds %s distributions, the index serves %d" % (tot.get("distributions"), m["files"]))
        if tot.get("files") is not None and tot.get("files") != m["rows"]:
            res["checks"].append("the corpus indexes %s files, the generator wrote %d" % (tot.get("files"), m["rows"]))

        for name in READER_STEPS:
            if name not in steps:
                continue
            argv, out, count = reader_step(name, base, outp, m["needle"], python, corpus)
            r = step(name, argv, stdout=out, count=count)
            after_reader(name, r, outp, sizes)
            if name == "grep-rare" and r["ok"] and r.get("counts", {}).get("matches") != len(m["needle_projects"]):
                res["checks"].append("grep -F %s found %s matches, the generator planted %d" % (m["needle"], r.get("counts", {}).get("matches"), len(m["needle_projects"])))
            if r.get("skipped"):
                log("    skipped: %s" % r["skipped"])
        if check:
            try:
                res["independent_checks"] = independent_checks(binary, corpus, out_dir, steps, log)
            except Exception as e:  # a broken check is a failed check, not a lost run
                log("  independent checks failed to run: %s: %s" % (type(e).__name__, e))
                res["independent_checks"] = {"error": {"ok": False, "problems": ["%s: %s" % (type(e).__name__, e)]}}
        if "sync2" in steps:
            server.set_phase(2)
            server.reset_counters()
            r = step("sync2", sync_argv, stdout=outp("sync2.json"), count=sync_counts, input_kind="archives")
            set_input(r, "archives", m["phase2_bytes"] / 1e9, r["input_rows"])
            res["server"]["sync2"] = dict(server.hits, bytes=server.bytes_sent)
            c = r.get("counts", {})
            r["expected"] = {"downloaded": m["phase2_files"], "unchanged_projects": m["projects"] - m["phase2_projects"]}
            if r["ok"] and (c.get("downloaded") != m["phase2_files"] or c.get("unchanged_projects") != m["projects"] - m["phase2_projects"]):
                res["checks"].append("second sync: downloaded %s files (expected %d), %s projects unchanged (expected %d)"
                                     % (c.get("downloaded"), m["phase2_files"], c.get("unchanged_projects"), m["projects"] - m["phase2_projects"]))
        if "sync3" in steps:
            # nothing new at all: what the unchanged projects alone cost (the index's listing)
            if "sync2" not in steps:
                server.set_phase(2)
            server.reset_counters()
            r = step("sync3", sync_argv, stdout=outp("sync3.json"), count=sync_counts, input_kind="archives")
            r["input_gb"] = 0
            res["server"]["sync3"] = dict(server.hits, bytes=server.bytes_sent)
            c = r.get("counts", {})
            if "sync2" in steps and r["ok"] and (c.get("downloaded") != 0 or c.get("unchanged_projects") != m["projects"]):
                res["checks"].append("third sync: downloaded %s files (expected 0), %s projects unchanged (expected %d)"
                                     % (c.get("downloaded"), c.get("unchanged_projects"), m["projects"]))
        if fixed is not None and ("add-fixed" in steps or "seal-fixed" in steps):
            run_fixed_batch(fixed, steps, base, env, step, status, outp, res, jobs, log)
    finally:
        server.stop()
    return res


def run_fixed_batch(fixed, steps, base, env, step, status, outp, res, jobs, log=print):
    """add-fixed and seal-fixed (see FIXED_BATCH_SCALE): first the open shard that the syncs
    filled is sealed (not measured), so that the batch alone fills the shard seal-fixed seals.
    seal-fixed alone still adds the batch (its input), as add-fixed."""
    st = status()
    if any(sh.get("state") == "open" for sh in st.get("shards", [])):
        log("  (sealing the open shard before the fixed batch)")
        code, _, _, err = run_measured(base + ["seal", "--json"], env=env)
        if code != 0:
            res["checks"].append("seal before the fixed batch failed (exit %d): %s" % (code, err[-300:].decode("utf-8", "replace")))
            return
    files = [p for p, _ in fixed.archives(1)]
    fm = fixed.manifest
    r = step("add-fixed", base + ["add", "--jobs", str(jobs), "--json"] + files, stdout=outp("add-fixed.json"),
             count=lambda p, e: {k: _json_file(p).get(k) for k in ("added", "failed", "already_present", "files", "new_blobs", "new_blob_bytes")}
             | {"sealed_shards": len(_json_file(p).get("sealed_shards") or [])})
    set_input(r, "archives", fm["archive_bytes"] / 1e9, fm["rows"])
    added = (r.get("counts") or {}).get("added")
    if r["ok"] and added != len(files):
        res["checks"].append("fixed batch: %s distributions added, the batch has %d" % (added, len(files)))
    if r["ok"] and (r.get("counts") or {}).get("sealed_shards"):
        res["checks"].append("fixed batch: it filled a shard (FIXED_BATCH_SCALE must stay under a shard's capacity)")
    after = status()
    open_shards = [sh for sh in after.get("shards", []) if sh.get("state") == "open"]
    if "seal-fixed" in steps and r["ok"]:
        if not open_shards:
            res["checks"].append("fixed batch: no open shard to seal after adding it")
            return
        r = step("seal-fixed", base + ["seal", "--json"], stdout=outp("seal-fixed.json"))
        set_open_shard_input(r, open_shards)


# --------------------------------------------------------------------------------------------
# Results: the flat-memory check, tables
# --------------------------------------------------------------------------------------------

# 8 MB of absolute slack: at the quick unit the baseline RSS is tens of MB, where thread stacks,
# allocator arenas (one per worker thread, grown in 1-8 MB steps) and the pages of a larger
# Parquet footer or trigram index vary by a few MB between runs without any per-record growth.
FLAT_RATIO = 1.25
FLAT_SLACK_MB = 8.0


def check_flat_memory(results, small="1", large="2", steps=FLAT_MEMORY_STEPS, ratio=FLAT_RATIO, slack_mb=FLAT_SLACK_MB):
    """results: {scale: {"steps": {name: {"peak_rss_mb": ...}}}} (scale keys as str). Returns one
    dict per step: {"step", "rss_small", "rss_large", "limit", "ok"} (ok None when not measured)."""
    out = []
    for s in steps:
        a = results.get(small, {}).get("steps", {}).get(s, {})
        b = results.get(large, {}).get("steps", {}).get(s, {})
        if not a.get("ok") or not b.get("ok"):
            out.append({"step": s, "rss_small": a.get("peak_rss_mb"), "rss_large": b.get("peak_rss_mb"), "limit": None, "ok": None})
            continue
        limit = ratio * a["peak_rss_mb"] + slack_mb
        out.append({"step": s, "rss_small": a["peak_rss_mb"], "rss_large": b["peak_rss_mb"], "limit": round(limit, 1), "ok": b["peak_rss_mb"] <= limit})
    return out


def _fmt(v, spec="%.2f"):
    return "–" if v is None else spec % v


def markdown(results, scales):
    """Two tables: every step at every scale; peak RSS per step across scales."""
    keys = [str(s) for s in scales if str(s) in results]
    order = list(REQUIRED_STEPS) + list(OPTIONAL_STEPS)
    lines = ["| step | scale | wall s | CPU s | peak RSS MB | input | s per GB | s per M rows | counts |", "|---|---|---|---|---|---|---|---|---|"]
    for name in order:
        for k in keys:
            r = results[k].get("steps", {}).get(name)
            if not r:
                continue
            c = r.get("counts") or {}
            c = {kk: vv for kk, vv in c.items() if not isinstance(vv, (dict, list))}
            note = "FAILED (exit %d)" % r["exit"] if not r["ok"] else ("skipped: " + r["skipped"] if r.get("skipped") else ", ".join("%s %s" % kv for kv in c.items()))
            inp = "–" if r["input"] == "none" else "%.3f GB %s" % (r["input_gb"], {"archives": "archives", "open shard": "open shard", "written": "written"}.get(r["input"], "unique"))
            lines.append("| %s | %sx | %s | %s | %s | %s | %s | %s | %s |" % (name, k, _fmt(r["wall_s"]), _fmt(r["cpu_s"]), _fmt(r["peak_rss_mb"], "%.0f"), inp,
                                                                        _fmt(r["s_per_gb"]), _fmt(r["s_per_mrows"]), note))
    lines += ["", "| peak RSS MB | " + " | ".join("%sx" % k for k in keys) + " |", "|---|" + "---|" * len(keys)]
    for name in order:
        row = [results[k].get("steps", {}).get(name, {}).get("peak_rss_mb") for k in keys]
        if any(v is not None for v in row):
            lines.append("| %s | %s |" % (name, " | ".join(_fmt(v, "%.0f") for v in row)))
    return "\n".join(lines) + "\n"


def slope_markdown(results, scales, source="steps"):
    """The issue-23 view: per step, wall / CPU seconds and peak RSS at every scale, CPU seconds
    per unit of the step's input (GB, or M rows for steps that follow rows), and the 32x/4x
    (largest/second) ratios of peak RSS and of that rate. `source`: "steps" (the run) or
    "side_by_side" (the medians of side_by_side)."""
    keys = [str(s) for s in scales if results.get(str(s), {}).get(source)]
    order = list(REQUIRED_STEPS) + list(OPTIONAL_STEPS)
    big, ref = (keys[-1], keys[1]) if len(keys) > 2 else (keys[-1], keys[0])
    head = "| step | " + " | ".join("%sx wall / CPU s" % k for k in keys) + " | " + " | ".join("%sx RSS MB" % k for k in keys)
    head += " | CPU s per unit, " + " / ".join("%sx" % k for k in keys) + " | RSS %sx/%sx | rate %sx/%sx |" % (big, ref, big, ref)
    lines = [head, "|---|" + "---|" * (2 * len(keys) + 3)]
    for name in order:
        rs = [results[k].get(source, {}).get(name) for k in keys]
        if not any(rs):
            continue
        cell = lambda r, f: "–" if not r else f(r)
        # sync2's work follows the bytes of the new archives (input_gb); sync3 lists every
        # project and finds nothing new: per thousand projects listed
        per_row = name in ("report", "ls")
        def rate(r):
            if not r or not r.get("ok"):
                return None
            if name == "sync3":
                n = (r.get("counts") or {}).get("projects", 0) / 1e3
                return r["cpu_s"] / n if n else None
            units = r.get("input_rows", 0) / 1e6 if per_row else r.get("input_gb", 0)
            return r["cpu_s"] / units if units else None
        rates = [rate(r) for r in rs]
        written = any(r and r.get("input") == "written" for r in rs)
        unit = "k projects listed" if name == "sync3" else ("M rows" if per_row else ("GB written" if written else "GB"))
        rss = [r.get("peak_rss_mb") if r else None for r in rs]
        ratio = lambda xs: _fmt(xs[keys.index(big)] / xs[keys.index(ref)], "%.2f") if xs[keys.index(big)] and xs[keys.index(ref)] else "–"
        lines.append("| %s | %s | %s | %s (per %s) | %s | %s |" % (
            name, " | ".join(cell(r, lambda r: "%s / %s" % (_fmt(r["wall_s"]), _fmt(r["cpu_s"]))) for r in rs),
            " | ".join(_fmt(v, "%.0f") for v in rss), " / ".join(_fmt(v, "%.3g") for v in rates), unit, ratio(rss), ratio(rates)))
    return "\n".join(lines) + "\n"


def side_by_side(binary, scales, python, reps, steps=SIDE_BY_SIDE_STEPS, log=print):
    """Reruns the reading steps on the kept corpus of every scale, `reps` times, the scales
    alternating within each step, and records the medians. A run measures its scales tens of
    minutes apart, and this VM's speed drifts by 10-20 % over that (session 20: the same fixed
    batch cost 1.18x the CPU in the second half): side by side, a scale's ratio to another is
    the code's, not the machine's. The corpora hold by then what the second sync and the
    fixed batch added: inputs are read again. scales: [(scale key, corpus path, site manifest)].
    Returns {scale key: {step: record}}; a record holds the medians and every run."""
    env = dict(os.environ)
    env.pop("PYCORPUS_DIR", None)
    out = {k: {} for k, _, _ in scales}
    sizes, dirs = {}, {}
    for k, corpus, _ in scales:
        dirs[k] = tempfile.mkdtemp(prefix="pycorpus-side-")
        st = os.path.join(dirs[k], "status.json")
        code, _, _, _ = run_measured([binary, "--corpus", corpus, "--quiet", "status", "--format", "jsonl"], stdout=st, env=env)
        tot = _json_file(st).get("total", {}) if code == 0 else {}
        sizes[k] = {"unique_gb": (tot.get("blob_bytes") or 0) / 1e9, "rows": tot.get("files") or 0}
    try:
        for name in steps:
            runs = {k: [] for k, _, _ in scales}
            for i in range(reps):
                for k, corpus, m in scales:
                    outp = lambda n, k=k: os.path.join(dirs[k], n)
                    argv, stdout, count = reader_step(name, [binary, "--corpus", corpus, "--quiet"], outp, m["needle"], python, corpus)
                    r = measure("%s %sx %d/%d" % (name, k, i + 1, reps), argv, binary, stdout=stdout, count=count, env=env, log=log)
                    set_input(r, "corpus", sizes[k]["unique_gb"], sizes[k]["rows"])
                    after_reader(name, r, outp, sizes[k])
                    runs[k].append(r)
            for k, rs in runs.items():
                med = lambda f: round(statistics.median(r[f] for r in rs), 3)
                rec = dict(rs[-1])
                rec.update({"ok": all(r["ok"] for r in rs), "wall_s": med("wall_s"), "cpu_s": med("cpu_s"), "user_s": med("user_s"), "sys_s": med("sys_s"),
                            "peak_rss_mb": med("peak_rss_mb"), "runs": [{f: r[f] for f in ("exit", "wall_s", "cpu_s", "peak_rss_mb")} for r in rs]})
                set_input(rec, rec.get("input", "corpus"), rec.get("input_gb", 0.0), rec.get("input_rows", 0))
                out[k][name] = rec
    finally:
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
    return out


def merge_records(paths):
    """One record from several runs of different scales (the first run's settings)."""
    merged = None
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        if merged is None:
            merged = r
            merged["merged_from"] = []
        else:
            merged["scales"].update(r["scales"])
            merged["failed"] = merged.get("failed", []) + r.get("failed", [])
            merged["wall_s"] = round(merged.get("wall_s", 0) + r.get("wall_s", 0), 1)
        merged["merged_from"].append({"path": os.path.relpath(p, ROOT), "bin": r.get("bin"), "scales": sorted(r["scales"], key=float)})
    return merged


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default=None, help="comma list of scale factors (default 1,4,16,32; --quick: 1,2)")
    ap.add_argument("--unit-rows", type=int, default=None, help="file rows of 1x (default %d = corpus-v1; --quick: %d)" % (UNIT_ROWS, QUICK_UNIT_ROWS))
    ap.add_argument("--quick", action="store_true", help="scales 1 and 2 of a small unit, then the flat-memory check")
    ap.add_argument("--keep", action="store_true", help="keep the corpora (work/runs/<stamp>/)")
    ap.add_argument("--steps", default="", help="comma list of steps to run besides init, sync and seal (default all): " + ", ".join(OPTIONAL_STEPS) + "; grep = the three")
    ap.add_argument("--bin", default=None, help="pycorpus binary (default $PYCORPUS_BIN, else target/release/pycorpus)")
    ap.add_argument("--work", default=DEFAULT_WORK, help="cache of templates and sites, and the corpora of a run (default %(default)s)")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--source", default=None, help="distribution files, or a tree of source files to carve (default: corpus-v1 when fetched, else this Python's files)")
    ap.add_argument("--churn", type=float, default=0.03, help="share of files each release changes (default %(default)s)")
    ap.add_argument("--gzip-level", type=int, default=3, choices=range(1, 7), help="compression level of the generated archives (default %(default)s)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="generator processes (default: cores)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the iter_files step (needs `import pycorpus`)")
    ap.add_argument("--markdown", default=None, help="also write the tables to this file")
    ap.add_argument("--no-record", action="store_true", help="do not write bench/runs/ (the test command's check)")
    ap.add_argument("--memory-budget", type=int, default=None, help="memory_budget_bytes of the corpora (default: the corpus default, 1 GiB; --quick: %d)" % QUICK_MEMORY_BUDGET)
    ap.add_argument("--check", action="store_true", help="check export and report independently (bench/check_scale.py: per-shard exports deduplicated in Python, DuckDB over the Parquet files)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="RECORD", help="merge the records of runs at different scales into bench/runs/<date>-<host>/scale-full.json and print the tables (nothing is run)")
    ap.add_argument("--generate-only", action="store_true", help="generate (or find) the sites and stop")
    ap.add_argument("--repeat", type=int, default=None, help="after the run, rerun the reading steps (%s) this many times on every scale's corpus, the scales alternating, and report the medians (default: 3 with several scales, 0 with --quick)" % ", ".join(SIDE_BY_SIDE_STEPS))
    a = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows up through a pipe too
    if a.merge:
        merged = merge_records(a.merge)
        scales = sorted(merged["scales"], key=float)
        if not a.no_record:
            runlog.save("scale-full", merged)
        print(markdown(merged["scales"], scales))
        print(slope_markdown(merged["scales"], scales))
        if any(v.get("side_by_side") for v in merged["scales"].values()):
            print(slope_markdown(merged["scales"], scales, "side_by_side"))
        return 1 if merged.get("failed") else 0
    scales = [float(s) for s in (a.scale or ("1,2" if a.quick else "1,4,16,32")).split(",") if s.strip()]
    scales = [int(s) if s == int(s) else s for s in scales]
    unit = a.unit_rows or (QUICK_UNIT_ROWS if a.quick else UNIT_ROWS)
    steps = parse_steps(a.steps)
    binary = os.path.abspath(a.bin or os.environ.get("PYCORPUS_BIN") or os.path.join(ROOT, "target", "release", "pycorpus"))
    if not a.generate_only and not os.access(binary, os.X_OK):
        raise SystemExit("pycorpus binary not found at %s: build it (cargo build --release) or give --bin / PYCORPUS_BIN" % binary)
    source = a.source or default_source()
    t_all = time.perf_counter()
    results = {"machine": "%s, %d cores, %s" % (platform.node(), os.cpu_count(), platform.platform()), "bin": binary, "source": source,
               "unit_rows": unit, "seed": a.seed, "churn": a.churn, "gzip_level": a.gzip_level, "quick": a.quick, "steps": steps, "scales": {}}
    run_dir = os.path.join(a.work, "runs", time.strftime("%Y%m%d-%H%M%S") + "-%d" % os.getpid())
    failed = []
    repeat = a.repeat if a.repeat is not None else (0 if a.quick or len(scales) < 2 else 3)
    kept = []  # (scale key, corpus, site manifest) for the side-by-side pass
    pool = build_templates(source, a.work, jobs=a.jobs)
    results["source_fingerprint"] = pool.fingerprint
    for s in scales:
        print("== %sx (%s rows)" % (s, format(int(round(s * unit)), ",")), flush=True)
        try:
            site = generate_site(source, a.work, s, unit, seed=a.seed, churn=a.churn, level=a.gzip_level, jobs=a.jobs, pool=pool)
        except SystemExit as e:  # not enough disk: record it, keep what the smaller scales measured
            print(e)
            results["scales"][str(s)] = {"refused": str(e), "steps": {}, "checks": []}
            failed.append("%sx: %s" % (s, e))
            continue
        fixed = None
        if "add-fixed" in steps or "seal-fixed" in steps:
            try:
                fixed = generate_site(source, a.work, FIXED_BATCH_SCALE, unit, seed=FIXED_BATCH_SEED, churn=a.churn, level=a.gzip_level, jobs=a.jobs, pool=pool,
                                      keep=(site.path,))
            except SystemExit as e:
                print("the fixed batch: %s" % e)
                failed.append("%sx fixed batch: %s" % (s, e))
        entry = {"site": site.manifest, "site_path": site.path}
        if fixed is not None:
            entry["fixed_batch"] = {k: fixed.manifest.get(k) for k in ("projects", "releases", "files", "rows", "archive_bytes")}
        results["scales"][str(s)] = entry
        if a.generate_only:
            continue
        wd = os.path.join(run_dir, "%sx" % s)
        # room for the corpus, export's output and its check (32x: ~3 GB, ~4 GB): cached sites
        # of other scales go first (the 80 GB disk does not hold the 4x, 16x and 32x sites
        # with a run beside them)
        room = int(RUN_SPACE_FACTOR * site.manifest["archive_bytes"]) + (2 << 30)
        if not ensure_space(a.work, room, keep=(site.path,) + ((fixed.path,) if fixed else ())):
            print("  warning: less than %.1f GB free for the run's corpus and outputs" % (room / 1e9))
        try:
            entry.update(run_pipeline(binary, site, wd, unit, steps, python=a.python, memory_budget=a.memory_budget or (QUICK_MEMORY_BUDGET if a.quick else None), check=a.check,
                                      fixed=fixed))
        finally:
            if not a.keep and not repeat:
                shutil.rmtree(wd, ignore_errors=True)
        if repeat and entry["steps"].get("sync", {}).get("ok"):
            kept.append((str(s), os.path.join(wd, "corpus"), site.manifest))
        for name, r in entry["steps"].items():
            if not r["ok"]:
                failed.append("%sx %s: exit %d" % (s, name, r["exit"]))
        failed += ["%sx: %s" % (s, c) for c in entry["checks"]]
        failed += ["%sx: independent check of %s disagrees" % (s, k) for k, v in entry.get("independent_checks", {}).items() if not v["ok"]]
    if len(kept) > 1:
        print("== side by side: the reading steps %d times on each scale, alternating" % repeat, flush=True)
        steps_again = [n for n in SIDE_BY_SIDE_STEPS if n in steps]
        for k, recs in side_by_side(binary, kept, a.python, repeat, steps_again).items():
            results["scales"][k]["side_by_side"] = recs
            failed += ["%sx side by side %s: exit %s" % (k, n, [x["exit"] for x in r["runs"]]) for n, r in recs.items() if not r["ok"]]
    if not a.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    results["wall_s"] = round(time.perf_counter() - t_all, 1)
    flat = None
    if a.quick and not a.generate_only and len(scales) > 1:
        keys = [str(s) for s in scales]
        flat = check_flat_memory(results["scales"], small=keys[0], large=keys[-1])
        results["flat_memory"] = {"ratio": FLAT_RATIO, "slack_mb": FLAT_SLACK_MB, "small": keys[0], "large": keys[-1], "steps": flat}
        failed += ["flat memory: %s peak RSS %.0f MB at %sx > %.0f MB (%.0f MB at %sx)" % (c["step"], c["rss_large"], keys[-1], c["limit"], c["rss_small"], keys[0])
                   for c in flat if c["ok"] is False]
    if a.generate_only:
        if failed:
            print("FAILED:\n  " + "\n  ".join(failed))
        return 1 if failed else 0
    results["failed"] = failed
    if not a.no_record:
        runlog.save("scale-%s" % ("quick" if a.quick else "full"), results)
    table = markdown(results["scales"], scales)
    if len(scales) > 1:
        table += "\n" + slope_markdown(results["scales"], scales)
        if any(v.get("side_by_side") for v in results["scales"].values()):
            table += "\nSide by side (medians of %d runs, the scales alternating):\n\n" % repeat + slope_markdown(results["scales"], scales, "side_by_side")
    print()
    print(table)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    if flat is not None:
        print("flat memory (peak RSS at %sx <= %.2f x %sx + %.0f MB):" % (results["flat_memory"]["large"], FLAT_RATIO, results["flat_memory"]["small"], FLAT_SLACK_MB))
        for c in flat:
            verdict = "not measured" if c["ok"] is None else ("ok" if c["ok"] else "FAILED")
            print("  %-8s %s MB -> %s MB (limit %s MB): %s" % (c["step"], _fmt(c["rss_small"], "%.0f"), _fmt(c["rss_large"], "%.0f"), _fmt(c["limit"], "%.0f"), verdict))
    print("total wall time %.1f s" % results["wall_s"])
    if failed:
        print("FAILED:\n  " + "\n  ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
