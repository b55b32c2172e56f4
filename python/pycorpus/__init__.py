"""pycorpus: the code published on a Python package index as a local corpus.

The same implementation as the `pycorpus` command line, for notebooks, scripts and clusters::

    import pycorpus
    c = pycorpus.Corpus("pycorpus-data")
    df = c.files(project="requests", ext="py").to_pandas()
    for row, data in c.iter_files(ext="py", unique=True):
        ...
    path = pycorpus.get("5f0f7c...e1", datastore="data/", catalogs=["https://example.invalid/torrents"])

Filters are keyword arguments named like the command line's (``project``, ``projects_file``,
``version``, ``since``, ``until``, ``path``, ``ext``, ``min_size``, ``max_size``,
``skip_reason``, ``dist_type``, ``unique``, ``shard``); list-valued ones take one value or a
list. ``shard=n`` restricts a call to one shard: the unit of work on a cluster.
Other options are named like the CLI's flags too (one definition for both: ``grep(..., ignore_case=True,
context=2)``, ``sync(..., latest=1, types=["sdist"])``). Long calls (``add``, ``sync``, ``iter_files``, ``grep``,
``extract``, ``analyze``, ``features``, ``report``, ``export_codesearchnet``, ``verify``, ``upgrade``, ``get``) stop on Ctrl-C (``KeyboardInterrupt``) and take
``progress=``: ``None`` (the default: a tqdm bar in a Jupyter notebook when tqdm is installed,
else a bar on stderr when it is a terminal, else nothing), ``True`` (a tqdm bar if tqdm is
installed, else the terminal bar), ``False`` (nothing), or a callable
``f(phase, done, total, unit)`` (``total`` is None while unknown), called from the calling
thread about ten times a second; an exception it raises stops the call.
"""
import collections.abc
import json
import math
import operator
import os
import pathlib
import sys

from . import _native
from ._native import PycorpusError, Row

# A Row is a read-only mapping: isinstance(row, Mapping) holds, and pandas takes a list of them.
collections.abc.Mapping.register(Row)

__all__ = ["Corpus", "PycorpusError", "Row", "Seeder", "get", "seed", "create_torrent", "__version__"]
__version__ = _native.__version__

# Every filter's name and the kind of value it takes, from the one definition the CLI's flags
# come from too (pycorpus_catalog::FilterSpec).
_FILTERS = dict(_native.filters())
# Each command's options besides the filters, from the one definition the CLI's flags come
# from too (the *Spec structs of the library crates), in order.
# Each option's kind of value (flag, whole, number, text, list, choice, any) comes with it.
_OPTIONS = {cmd: dict(_native.options(cmd)) for cmd in ("add", "sync", "grep", "extract", "analyze", "report", "export_codesearchnet", "get", "seed",
                                                        "create_torrent", "deps", "secrets")}


def _in_notebook():
    shell = sys.modules.get("IPython")
    try:
        return shell is not None and "IPKernelApp" in shell.get_ipython().config
    except Exception:  # noqa: BLE001  (no IPython, or not a kernel)
        return False


class _Tqdm:
    """A progress callable drawing one tqdm bar per phase (closed by ``close``)."""

    def __init__(self, tqdm):
        self._tqdm, self._bar, self._phase = tqdm, None, None

    def __call__(self, phase, done, total, unit):
        total = total or None
        if self._bar is None or phase != self._phase:
            self.close()
            self._phase = phase
            scale = unit == "bytes"
            self._bar = self._tqdm(desc=phase, total=total, unit="B" if scale else " " + unit,
                                   unit_scale=scale, unit_divisor=1024 if scale else 1000)
        if total is not None and self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Progress:
    """Resolves a ``progress=`` argument for one call: ``with _Progress(p) as arg: native(..., arg)``."""

    def __init__(self, progress):
        self._tqdm_bar = None
        want_tqdm = progress is True or (progress is None and _in_notebook())
        if want_tqdm:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._tqdm_bar = _Tqdm(tqdm)
        if self._tqdm_bar is not None:
            self.arg = self._tqdm_bar
        elif progress is None or isinstance(progress, bool) or callable(progress):
            self.arg = progress
        else:
            raise TypeError("progress: expected None, True, False or a callable(phase, done, total, unit)")

    def __enter__(self):
        return self.arg

    def __exit__(self, *exc):
        if self._tqdm_bar is not None:
            self._tqdm_bar.close()


def _iterate(native, progress):
    """A generator over a native iterator that closes the tqdm bar, if any, when it ends, is
    closed or is collected (``yield from`` closes the native iterator, which stops its readers)."""
    with progress:
        yield from native


def _as_int(name, v):
    """`v` as an int (anything that is one: numpy's and pyarrow's integers too, not bools)."""
    x = v.as_py() if hasattr(v, "as_py") else v  # a pyarrow scalar
    try:
        if isinstance(x, bool):
            raise TypeError
        return operator.index(x)
    except TypeError:
        raise TypeError("%s: expected a whole number, got %r" % (name, v)) from None


def _is_int_like(v):
    try:
        _as_int("", v)
        return True
    except TypeError:
        return False


def _iterable(name, v, what):
    """`v` (not a string) as a list, or a TypeError naming the argument."""
    if isinstance(v, (str, bytes, bytearray)):
        raise TypeError("%s: expected %s, got %r" % (name, what, v))
    try:
        return list(v)
    except TypeError:
        raise TypeError("%s: expected %s, got %r" % (name, what, v)) from None


def _strings(name, v):
    """`v` as a list of strings for argument `name`: one string or path, or an iterable of them
    (pyarrow's strings too); a lone string is never taken apart into characters."""
    items = [v] if isinstance(v, (str, os.PathLike)) else _iterable(name, v, "a string or a list of strings")
    out = []
    for x in items:
        x = x.as_py() if hasattr(x, "as_py") else x
        if not isinstance(x, (str, os.PathLike)):
            raise TypeError("%s: expected a string or a list of strings, got %r in %r" % (name, x, v))
        out.append(os.fspath(x))
    return out


def _count(name, v, none_ok=True, below=2 ** 63):
    """`v` checked as a count (0 or more, below `below`; or None when allowed) for argument
    `name`."""
    if v is None and none_ok:
        return v
    v = _as_int(name, v)
    if not 0 <= v < below:
        raise ValueError("%s: %d is out of range (0 to %d)" % (name, v, below - 1))
    return v


def _plain(name, v, kind=None):
    """`v` as JSON can carry it to the options layer, which checks it: numpy's and pyarrow's
    numbers as Python's, paths and dates as text; a `list` option's value as `_strings` takes
    it (one string is one item)."""
    if kind == "list":  # every list option takes strings
        return _strings(name, v)
    v = v.as_py() if hasattr(v, "as_py") else v
    if isinstance(v, float) and not math.isfinite(v):
        # JSON has no infinity or NaN: the largest number is as good as infinity (a timeout
        # that never ends), and NaN means nothing, as 0 does.
        return sys.float_info.max if v > 0 else (-sys.float_info.max if v < 0 else 0.0)
    if v is None or isinstance(v, (bool, str, float)):
        return v
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if _is_int_like(v):
        return _as_int(name, v)
    if hasattr(v, "__float__") and not hasattr(v, "__iter__"):
        return float(v)
    raise TypeError("%s: expected a %s value, got %r" % (name, kind, v))


def _options(cmd, kw):
    """Takes `cmd`'s options out of the keyword arguments `kw` (what is left are filters) and
    returns them as the JSON the native layer reads; None means the default."""
    out = {}
    for k, kind in _OPTIONS[cmd].items():
        if k in kw:
            v = kw.pop(k)
            if v is not None:
                out[k] = _plain(k + "=", v, kind)
    return json.dumps(out)


def _filters(kw):
    """The keyword filters as the JSON the native layer reads. A wrong name or type is a
    TypeError and a value out of range a ValueError, each naming the filter; None means no
    filter."""
    out = {}
    for k, v in kw.items():
        if v is None:
            continue
        kind = _FILTERS.get(k)
        if kind == "strings":
            out[k] = _strings(k + "=", v)
        elif kind == "shards":
            items = [v] if _is_int_like(v) else _iterable(k + "=", v, "a shard number or a list of them")
            out[k] = [_count(k + "=", x, none_ok=False, below=2 ** 32) for x in items]
        elif kind == "size":
            out[k] = _count(k + "=", v, none_ok=False, below=2 ** 64)
        elif kind == "flag":
            if not isinstance(v, bool):
                raise TypeError("%s=: expected True or False, got %r" % (k, v))
            out[k] = v
        elif kind == "date":
            if hasattr(v, "isoformat"):
                v = v.isoformat()
            if not isinstance(v, str):
                raise TypeError("%s=: expected a date, a datetime or a string such as 2024-05-01, got %r" % (k, v))
            out[k] = v
        elif kind == "path":
            if not isinstance(v, (str, os.PathLike)):
                raise TypeError("%s=: expected a path, got %r" % (k, v))
            out[k] = os.fspath(v)
        elif kind is None:
            raise TypeError("unknown filter %r; filters are: %s" % (k, ", ".join(_FILTERS)))
        else:
            raise TypeError("filter %r takes a %s, which this version of the module cannot check" % (k, kind))
    return json.dumps(out)


def _no_more(what, kw, cmd=None):
    """A TypeError for keyword arguments `what` does not take (it takes no filters), listing
    command `cmd`'s options."""
    if kw:
        raise TypeError("%s: unknown option(s) %s; options are: %s" % (what, ", ".join(map(repr, kw)), ", ".join(_OPTIONS[cmd or what])))


class Corpus:
    """A corpus folder (``path``, else ``$PYCORPUS_DIR``, else ``./pycorpus-data``).

    ``create=True`` makes the folder a corpus if it is not one yet."""

    def __init__(self, path=None, create=False):
        path = path if path is not None else os.environ.get("PYCORPUS_DIR", "pycorpus-data")
        self._c = _native.NativeCorpus(os.fspath(path), create)

    @property
    def path(self):
        """The corpus folder."""
        return pathlib.Path(self._c.root)

    def __repr__(self):
        return "Corpus(%r)" % str(self.path)

    def shards(self):
        """Every shard: a list of dicts with ``number``, ``kind`` ("sealed" or "open") and ``path``.
        Shards are independent: one per task is the way to spread work over a cluster."""
        return [{"number": n, "kind": k, "path": pathlib.Path(p)} for n, k, p in self._c.shards()]

    def status(self):
        """What the corpus holds (the CLI's ``status --format jsonl``)."""
        return json.loads(self._c.status())

    def add(self, paths, progress=None, **options):
        """Adds distribution files or folders of them; returns the summary dict. ``options``:
        the CLI's (``uploaded_on``, ``jobs``, ``retry_failed``)."""
        paths = _strings("paths", paths)
        opts = _options("add", options)
        _no_more("add", options)
        with _Progress(progress) as p:
            return json.loads(self._c.add(paths, opts, p))

    def sync(self, projects=(), progress=None, **options):
        """Mirrors distribution files from a package index into the corpus (the CLI's ``sync``):
        ``projects`` by name, or exactly the files of a ``lock`` file; ``options``: the CLI's
        (``index_url``, ``lock``, ``since``, ``until``, ``latest``, ``types``, ``exclude``,
        ``jobs``, ``dry_run``, ...). The index is ``index_url``, else corpus.toml's,
        ``PIP_INDEX_URL``, pip's configuration, pip's default. Returns the summary dict; a
        second call fetches only what is new."""
        options["projects"] = projects
        opts = _options("sync", options)
        _no_more("sync", options)
        with _Progress(progress) as p:
            return json.loads(self._c.sync(opts, p))

    def seal(self):
        """Seals the open shard; returns its manifest summary (None when there was nothing to seal)."""
        return json.loads(self._c.seal())

    def verify(self, progress=None):
        """Re-hashes every blob and checks every manifest and index (the CLI's ``verify``);
        returns the report dict (``problems`` empty when all is well)."""
        with _Progress(progress) as p:
            return json.loads(self._c.verify(p))

    def lock(self, output=None):
        """The corpus's lock file (project, version, filename, size, sha256, upload_time), which
        ``sync(lock=...)`` rebuilds the same corpus from: written to ``output``, else returned."""
        return self._c.lock(os.fspath(output) if output is not None else None)

    def upgrade(self, progress=None):
        """Rewrites format-1 shards as format 2 (the CLI's ``upgrade``); returns the summary."""
        with _Progress(progress) as p:
            return json.loads(self._c.upgrade(p))

    def get(self, infohash_or_magnet, progress=None, **options):
        """Fetches a shard by info-hash, magnet link or .torrent path into this corpus (the CLI's
        ``get`` without ``-o``): checked to be a shard that can land here, then registered, so
        every call sees it at once. With ``with_deps=True`` the shards whose blobs its rows use
        are fetched too. ``options``: those of :func:`get`. Returns ``{"fetched": [report, ...],
        "missing": [shard numbers still missing]}``."""
        opts = _get_options(options)
        with _Progress(progress) as p:
            return json.loads(_native.get(os.fspath(infohash_or_magnet), None, os.fspath(self.path), opts, p))

    def seed(self, **options):
        """Seeds every sealed shard of the corpus (the CLI's ``seed`` without targets); returns
        the running :class:`Seeder`. ``options``: those of :class:`Seeder`."""
        return Seeder._of_corpus(self.path, options)

    def files(self, **filters):
        """The selected rows of the file index as a ``pyarrow.Table`` (files.parquet's schema).
        ``.to_pandas()`` gives a DataFrame."""
        import pyarrow as pa

        # Arrow's C stream interface: the batches built in Rust become the table's, no file.
        return pa.RecordBatchReader.from_stream(self._c.files_arrow(_filters(filters))).read_all()

    def requirements(self):
        """Every requirement of every distribution (requirements.parquet's schema, see
        docs/FORMAT.md) as a ``pyarrow.Table``: one row per requirement and file that states it,
        keyed by ``project_name``, ``project_version``, ``project_release``, ``uploaded_on``.
        Shards sealed before the dependency tables existed add nothing until
        ``pycorpus reindex-metadata``."""
        import pyarrow as pa

        return pa.RecordBatchReader.from_stream(self._c.requirements_arrow()).read_all()

    def deps(self, project, reverse=False, **options):
        """``pycorpus deps PROJECT`` as a ``pyarrow.Table`` (requirements.parquet's schema):
        what ``project`` requires over its releases, or with ``reverse=True`` who requires it.
        ``extras=True`` adds requirements of extras; ``since``/``until`` bound upload times."""
        import pyarrow as pa

        if not isinstance(project, str):
            raise TypeError("project: expected a string, got %r" % (project,))
        options["reverse"] = reverse
        opts = _options("deps", options)
        if options:
            raise TypeError("deps() got unexpected keyword argument(s): %s" % ", ".join(sorted(options)))
        return pa.RecordBatchReader.from_stream(self._c.deps_arrow(project, opts)).read_all()

    def reverse_deps(self, name, extras=False, since=None, until=None):
        """Who requires ``name``: ``deps(name, reverse=True, ...)``."""
        return self.deps(name, reverse=True, extras=extras, since=since, until=until)

    def read(self, oid):
        """The contents of a blob by its git blob id (hex). ``KeyError`` if the corpus lacks it."""
        if isinstance(oid, (bytes, bytearray)):
            oid = bytes(oid).hex()
        if not isinstance(oid, str):
            raise TypeError("oid: expected 40 hex digits (str) or 20 bytes, got %r" % (oid,))
        return self._c.read(oid)

    def cat(self, project, version, path):
        """The contents of the file ``path`` (inside the distribution, or the end of it) of
        ``project`` at ``version``, like ``pycorpus cat PROJECT VERSION PATH``. ``KeyError``
        when there is no such file; ``ValueError`` when ``path`` names files with different
        contents."""
        for name, v in (("project", project), ("version", version), ("path", path)):
            if not isinstance(v, str):
                raise TypeError("%s: expected a string, got %r" % (name, v))
        return self._c.cat(project, version, path)

    def iter_files(self, progress=None, **filters):
        """Yields ``(row, contents)`` for every selected stored file: ``row`` a :class:`Row`, a
        read-only mapping with the columns of ``files()`` (``row["path"]``, ``row.path``,
        ``dict(row)``), ``contents`` bytes. Blobs are decompressed on Rust threads ahead of you,
        without the GIL; each blob is read once (with ``unique=True``, one row per blob).
        Progress counts the bytes of the blobs handed out, of the selection's (known once each
        shard's index is scanned, so it grows shard by shard)."""
        p = _Progress(progress)
        # Made here, not at the first next(): a wrong filter raises at the call.
        return _iterate(self._c.iter_files(_filters(filters), p.arg), p)

    def grep(self, pattern, limit=None, progress=None, **options):
        """Searches the selected files with ripgrep's regex engine; returns a list of dicts, one
        per matching line (and context line) of each file holding a matching blob (``oid``,
        ``project``, ``version``, ``release``, ``path``, ``path_in_archive``, ``line_number``,
        ``type`` and ``text``: the CLI's ``--json`` records), in the order of the CLI's.
        ``options``: the CLI's (``ignore_case``, ``fixed_strings``, ``word_regexp``,
        ``invert_match``, ``max_count`` lines per blob, ``after_context``, ``before_context``,
        ``context``) and the filters; ``limit``: lines in all (the search stops there). Progress
        is in bytes of the selection."""
        return self._grep(pattern, limit, progress, options, table=False)

    def grep_table(self, pattern, limit=None, progress=None, **options):
        """``grep``'s lines as a ``pyarrow.Table`` with the same columns, in the same order, built
        in Rust without a Python object per line: for large results (a fraction of the list's
        memory) and for pandas, DuckDB or polars. The fields a file's lines share (``oid``,
        ``project``, ``version``, ``release``, ``path``, ``path_in_archive``) and ``type`` are
        dictionary-encoded (categoricals in pandas)."""
        import pyarrow as pa

        return pa.RecordBatchReader.from_stream(self._grep(pattern, limit, progress, options, table=True)).read_all()

    def _grep(self, pattern, limit, progress, options, table):
        """Checks grep's arguments and runs the native search, as a list or an Arrow stream."""
        if not isinstance(pattern, str):
            raise TypeError("pattern: expected a string, got %r" % (pattern,))
        if "word" in options:  # the name of word_regexp before 0.2
            options["word_regexp"] = options.pop("word")
        opts = _options("grep", options)
        with _Progress(progress) as p:
            return self._c.grep(pattern, _filters(options), opts, _count("limit", limit), table, p)

    def secrets(self, progress=None, **options):
        """``pycorpus secrets``: leaked credentials in the selected files, as a ``pyarrow.Table``
        with one row per file holding a finding (``rule``, ``project_name``,
        ``project_version``, ``project_release``, ``path``, ``line``, ``first_uploaded_on``,
        ``oid``, ``fingerprint``, ``secret`` masked unless ``show_secrets=True``, ``context``,
        ``generic``). ``rules``: a gitleaks TOML file instead of the built-in rules; the other
        keyword arguments are filters."""
        import pyarrow as pa

        opts = _options("secrets", options)
        with _Progress(progress) as p:
            return pa.RecordBatchReader.from_stream(self._c.secrets_arrow(_filters(options), opts, p)).read_all()

    def extract(self, dest, progress=None, **options):
        """Writes the selected files under ``dest`` (``layout="oid"``: one per blob;
        ``"tree"``: project/release/path); returns the summary dict. Progress is in bytes of the
        selection."""
        opts = _options("extract", options)
        with _Progress(progress) as p:
            return json.loads(self._c.extract(os.fspath(dest), _filters(options), opts, p))

    def analyze(self, progress=None, **options):
        """Parses every selected unique Python file once and keeps its language facts; returns
        the summary dict. A rerun parses only what is new. ``max_file_bytes``: larger files are
        recorded as too-large, not parsed."""
        opts = _options("analyze", options)
        with _Progress(progress) as p:
            return json.loads(self._c.analyze(_filters(options), opts, p))

    def report(self, progress=None, **options):
        """Writes the report of ``analyze()``'s facts (the CLI's ``report``): the HTML page
        (``output``, default ``<corpus>/report/report.html``), the charts as SVG and PNG
        (``charts``, ``no_charts``), the tables (``csv``, ``parquet`` folders); ``period``,
        ``min_units``, ``top``, ``exclude_tests_docs`` and the filters as the CLI's. Returns the
        summary dict (``html``: the page)."""
        opts = _options("report", options)
        with _Progress(progress) as p:
            return json.loads(self._c.report(_filters(options), opts, p))

    def features(self, view="release", period=None, exclude_tests_docs=False, progress=None, **filters):
        """Adoption of language features over time as a ``pyarrow.Table`` (run ``analyze()``
        first): one row per period and feature with ``units``, ``with_feature`` and ``percent``.

        ``view``: ``"release"`` (share of releases), ``"project"`` (of projects uploading in the
        period, py-code.org's definition) or ``"file"`` (of unique files, counted when first
        seen); or another table of the report by name: ``"features_overall"``, ``"packaging"``,
        ``"build_backends"``, ``"min_versions"``, ``"imports"``, ``"parse_status"``,
        ``"summary"``. ``period``: ``"month"``, ``"quarter"``, ``"year"`` (default: the finest
        with about 30 releases per bucket)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        views = {"release": "release", "project": "project_period", "project_period": "project_period", "file": "file"}
        names = _native.NativeCorpus.feature_tables()
        if view not in views and view not in names:
            # Said before any counting: a typo costs nothing.
            have = sorted(name for name in names if name != "adoption")
            raise ValueError("view %r: expected release, project, file or one of %s" % (view, ", ".join(have)))
        opts = _options("report", {"period": period, "exclude_tests_docs": exclude_tests_docs})
        with _Progress(progress) as p:
            # The report's tables, computed in memory; the streams are read here, once each.
            tables = dict(self._c.features(_filters(filters), opts, progress=p))
        if view in views:
            t = pa.RecordBatchReader.from_stream(tables["adoption"]).read_all()
            return t.filter(pc.equal(t["view"], views[view])).drop_columns(["view"])
        return pa.RecordBatchReader.from_stream(tables[view]).read_all()

    def export_codesearchnet(self, dest, progress=None, **options):
        """Writes a CodeSearchNet-format dataset of the selection to ``dest``; returns the summary.
        ``options``: the export's (``scenario``, ``split``, ``format``, ``nested``, ``chunk``,
        ``min_doc_tokens``, ... ``near_duplicates``, ``max_file_bytes``: the CLI's flags, with
        its defaults) and the filters."""
        opts = _options("export_codesearchnet", options)
        with _Progress(progress) as p:
            return json.loads(self._c.export_codesearchnet(os.fspath(dest), _filters(options), opts, p))


def _get_options(options):
    """get's options as JSON (``urls=`` is ``catalogs=``'s earlier name)."""
    if "urls" in options:
        options["catalogs"] = options.pop("urls")
    opts = _options("get", options)
    _no_more("get", options)
    return opts


def get(infohash_or_magnet, datastore=None, with_report=False, progress=None, **options):
    """Fetches a torrent (info-hash, magnet link or .torrent path) into ``datastore`` (default
    ``./pycorpus-datastore``) and returns the ``pathlib.Path`` of its content, verified piece by
    piece; with ``with_report=True``, ``(path, report)`` where the report says where the bytes
    came from (``peer_bytes``, ``webseed_bytes``, ``resumed_bytes``, ``from_datastore``, ...),
    and with ``with_deps=True`` which shards the fetched one depends on were fetched too
    (``dependencies``) or are still missing (``missing_shards``).

    A copy already in the datastore returns at once (``verify=True`` re-checks it).
    ``options``: the CLI's (``catalogs``: URLs serving ``<hash>.torrent``; ``peers``:
    ``"IP:PORT"`` strings; ``webseeds``: BEP 19 URLs; ``trackers``, ``dht``, ``with_deps``,
    ``webseed_after`` and ``stall_timeout`` in seconds, ...). An interrupted download (Ctrl-C, a
    crash) resumes on the next call. To fetch a shard into a corpus, use :meth:`Corpus.get`."""
    dest = os.fspath(datastore if datastore is not None else "pycorpus-datastore")
    opts = _get_options(options)
    with _Progress(progress) as p:
        out = json.loads(_native.get(os.fspath(infohash_or_magnet), dest, None, opts, p))
    report = out["fetched"][0]
    report["dependencies"], report["missing_shards"] = out["fetched"][1:], out["missing"]
    path = pathlib.Path(report["path"])
    return (path, report) if with_report else path


def _seed_options(options):
    """A seeder's options as JSON."""
    opts = _options("seed", options)
    _no_more("Seeder", options, "seed")
    return opts


class Seeder:
    """Seeds shards, folders or .torrent files until ``stop()`` (or the end of a ``with``)."""

    def __init__(self, targets, **options):
        """``options``: the CLI's ``seed`` flags (``listen``, default ``0.0.0.0:4240``;
        ``trackers``, ``dht``, ``upload_limit`` as bytes per second or ``"2M"``, ``torrent_dir``,
        ``webseeds``, ``data``, ...)."""
        self._s = _native.NativeSeeder(_strings("targets", targets), _seed_options(options))

    @classmethod
    def _of_corpus(cls, corpus, options):
        """Seeds the sealed shards of the corpus folder `corpus`."""
        s = cls.__new__(cls)
        s._s = _native.NativeSeeder([], _seed_options(options), os.fspath(corpus))
        return s

    @property
    def addr(self):
        """Where peers connect (``IP:PORT``)."""
        return self._s.addr

    @property
    def info_hashes(self):
        return list(self._s.info_hashes)

    def uploaded(self):
        """Bytes sent so far, by info-hash."""
        return dict(self._s.uploaded())

    def stop(self):
        self._s.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def seed(targets, **kw):
    """Starts seeding; returns the running ``Seeder``."""
    return Seeder(targets, **kw)


def create_torrent(target, output=None, **options):
    """Writes the deterministic metainfo of a shard or folder; returns its info-hash.
    ``options``: the CLI's (``webseeds``, ``trackers``, ``creation_date``, ``piece_length``)."""
    opts = _options("create_torrent", options)
    _no_more("create_torrent", options)
    h, data = _native.create_torrent(os.fspath(target), opts)
    if output is not None:
        pathlib.Path(output).write_bytes(data)
    return h
