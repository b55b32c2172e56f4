"""Type stubs of the public API of `pycorpus` (see the docstrings in __init__.py)."""
import os
import pathlib
from datetime import date, datetime
from typing import Any, Callable, Dict, Generator, Iterator, List, Literal, Mapping, Optional, Sequence, Tuple, Union, overload

import pyarrow

__version__: str

_Path = Union[str, os.PathLike]
_Many = Union[str, Sequence[str], None]
# One string is one item (never its characters).
_Strs = Union[str, Sequence[str]]
_Date = Union[str, date, datetime, None]
# progress=: None (auto), True, False, or f(phase, done, total, unit).
_Progress = Union[bool, Callable[[str, int, Optional[int], str], Any], None]

class PycorpusError(Exception): ...

class Row(Mapping[str, Any]):
    """A row of the index as iter_files hands it out: a read-only mapping (and attributes) with
    the columns of Corpus.files(); times as RFC 3339 text, the blob id as 40 hex digits."""
    project_name: str
    project_version: str
    project_release: str
    uploaded_on: str
    path: str
    archive_path: str
    size: int
    hash: str
    skip_reason: Optional[str]
    lines: Optional[int]
    repository: int
    dist_sha256: str
    dist_type: str
    entry_type: str
    link_target: Optional[str]
    def __getitem__(self, key: str) -> Any: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[str]: ...

class Corpus:
    def __init__(self, path: Optional[_Path] = None, create: bool = False) -> None: ...
    @property
    def path(self) -> pathlib.Path: ...
    def shards(self) -> List[Dict[str, Any]]: ...
    def status(self) -> Dict[str, Any]: ...
    def add(self, paths: Union[_Path, Sequence[_Path]], progress: _Progress = None, *, uploaded_on: _Date = None, jobs: int = 0,
            retry_failed: bool = False) -> Dict[str, Any]: ...
    def sync(self, projects: _Strs = (), progress: _Progress = None, *, projects_file: Optional[_Path] = None, all: bool = False,
             lock: Optional[_Path] = None, since: _Date = None, until: _Date = None, latest: Optional[int] = None,
             types: Sequence[Literal["sdist", "wheel", "egg", "conda"]] = (), exclude: Sequence[str] = (),
             max_file_size: Optional[int] = None, only_pure_wheels: bool = False, platforms: Sequence[str] = (),
             include_yanked: bool = False, index_url: Optional[str] = None, conda_channel: Optional[str] = None,
             subdirs: Sequence[str] = (), jobs: int = 4, dry_run: bool = False, keep_archives: Optional[_Path] = None,
             timeout: int = 60, retries: int = 5) -> Dict[str, Any]: ...
    def seal(self) -> Optional[Dict[str, Any]]: ...
    def verify(self, progress: _Progress = None) -> Dict[str, Any]: ...
    def lock(self, output: Optional[_Path] = None) -> Optional[str]: ...
    def upgrade(self, progress: _Progress = None) -> Dict[str, Any]: ...
    def get(self, infohash_or_magnet: _Path, progress: _Progress = None, *, peers: _Strs = (), webseeds: _Strs = (), catalogs: _Strs = (),
            verify: bool = False, with_deps: bool = False, listen: Optional[str] = None, webseed_after: float = 15.0,
            stall_timeout: float = 300.0, metadata_timeout: float = 120.0, webseed_connections: int = 4, trackers: _Strs = (),
            dht: bool = True, announce_port: Optional[int] = None, upload_limit: Union[int, str, None] = None,
            download_limit: Union[int, str, None] = None) -> Dict[str, Any]: ...
    def seed(self, *, listen: str = "0.0.0.0:4240", data: Optional[_Path] = None, webseeds: _Strs = (), torrent_dir: Optional[_Path] = None,
             trackers: _Strs = (), dht: bool = True, announce_port: Optional[int] = None, upload_limit: Union[int, str, None] = None,
             download_limit: Union[int, str, None] = None) -> "Seeder": ...
    def files(self, *, project: _Many = None, projects_file: Optional[_Path] = None, version: _Many = None, since: _Date = None,
              until: _Date = None, path: _Many = None, ext: _Many = None, min_size: Optional[int] = None, max_size: Optional[int] = None,
              skip_reason: _Many = None, dist_type: _Many = None, unique: bool = False,
              shard: Union[int, Sequence[int], None] = None) -> pyarrow.Table: ...
    def read(self, oid: Union[str, bytes]) -> bytes: ...
    def cat(self, project: str, version: str, path: str) -> bytes: ...
    def iter_files(self, progress: _Progress = None, *, project: _Many = None, projects_file: Optional[_Path] = None, version: _Many = None, since: _Date = None,
                   until: _Date = None, path: _Many = None, ext: _Many = None, min_size: Optional[int] = None, max_size: Optional[int] = None,
                   skip_reason: _Many = None, dist_type: _Many = None, unique: bool = False,
                   shard: Union[int, Sequence[int], None] = None) -> Generator[Tuple[Row, bytes], None, None]: ...
    def grep(self, pattern: str, limit: Optional[int] = None, progress: _Progress = None, *, ignore_case: bool = False,
             fixed_strings: bool = False, word_regexp: bool = False, invert_match: bool = False, max_count: Optional[int] = None,
             after_context: Optional[int] = None, before_context: Optional[int] = None, context: Optional[int] = None,
             **filters: Any) -> List[Dict[str, Any]]: ...
    def grep_table(self, pattern: str, limit: Optional[int] = None, progress: _Progress = None, *, ignore_case: bool = False,
                   fixed_strings: bool = False, word_regexp: bool = False, invert_match: bool = False, max_count: Optional[int] = None,
                   after_context: Optional[int] = None, before_context: Optional[int] = None, context: Optional[int] = None,
                   **filters: Any) -> pyarrow.Table: ...
    def extract(self, dest: _Path, progress: _Progress = None, *, layout: Literal["oid", "tree"] = "oid", **filters: Any) -> Dict[str, Any]: ...
    def analyze(self, progress: _Progress = None, *, max_file_bytes: int = 8388608, **filters: Any) -> Dict[str, Any]: ...
    def report(self, progress: _Progress = None, *, output: Optional[_Path] = None, csv: Optional[_Path] = None,
               parquet: Optional[_Path] = None, charts: Optional[_Path] = None, no_charts: bool = False,
               period: Optional[Literal["month", "quarter", "year"]] = None, min_units: int = 5, top: int = 25,
               exclude_tests_docs: bool = False, **filters: Any) -> Dict[str, Any]: ...
    def features(self, view: str = "release", period: Optional[Literal["month", "quarter", "year"]] = None,
                 exclude_tests_docs: bool = False, progress: _Progress = None, **filters: Any) -> pyarrow.Table: ...
    def export_codesearchnet(self, dest: _Path, progress: _Progress = None, *, scenario: Literal["docstring", "comments", "both"] = "docstring",
                             split: str = "80/10/10", format: Literal["jsonl.gz", "parquet"] = "jsonl.gz", nested: bool = False,
                             chunk: int = 30000, min_doc_tokens: int = 3, max_doc_tokens: int = 256, min_code_lines: int = 3,
                             keep_tests: bool = False, keep_dunders: bool = False, keep_urls: bool = False, any_language: bool = False,
                             keep_duplicates: bool = False, near_duplicates: float = 0.8, max_file_bytes: int = 8388608,
                             **filters: Any) -> Dict[str, Any]: ...

@overload
def get(infohash_or_magnet: _Path, datastore: Optional[_Path] = None, with_report: Literal[False] = False, progress: _Progress = None, *,
        peers: _Strs = (), webseeds: _Strs = (), catalogs: _Strs = (), verify: bool = False, with_deps: bool = False,
        listen: Optional[str] = None, webseed_after: float = 15.0, stall_timeout: float = 300.0, metadata_timeout: float = 120.0,
        webseed_connections: int = 4, trackers: _Strs = (), dht: bool = True, announce_port: Optional[int] = None,
        upload_limit: Union[int, str, None] = None, download_limit: Union[int, str, None] = None) -> pathlib.Path: ...
@overload
def get(infohash_or_magnet: _Path, datastore: Optional[_Path] = None, *, with_report: Literal[True], progress: _Progress = None,
        peers: _Strs = (), webseeds: _Strs = (), catalogs: _Strs = (), verify: bool = False, with_deps: bool = False,
        listen: Optional[str] = None, webseed_after: float = 15.0, stall_timeout: float = 300.0, metadata_timeout: float = 120.0,
        webseed_connections: int = 4, trackers: _Strs = (), dht: bool = True, announce_port: Optional[int] = None,
        upload_limit: Union[int, str, None] = None, download_limit: Union[int, str, None] = None) -> Tuple[pathlib.Path, Dict[str, Any]]: ...

class Seeder:
    def __init__(self, targets: Union[_Path, Sequence[_Path]], *, listen: str = "0.0.0.0:4240", data: Optional[_Path] = None,
                 webseeds: _Strs = (), torrent_dir: Optional[_Path] = None, trackers: _Strs = (), dht: bool = True,
                 announce_port: Optional[int] = None, upload_limit: Union[int, str, None] = None,
                 download_limit: Union[int, str, None] = None) -> None: ...
    @property
    def addr(self) -> Optional[str]: ...
    @property
    def info_hashes(self) -> List[str]: ...
    def uploaded(self) -> Dict[str, int]: ...
    def stop(self) -> None: ...
    def __enter__(self) -> "Seeder": ...
    def __exit__(self, *exc: Any) -> None: ...

def seed(targets: Union[_Path, Sequence[_Path]], **kw: Any) -> Seeder: ...
def create_torrent(target: _Path, output: Optional[_Path] = None, *, webseeds: _Strs = (), trackers: _Strs = (),
                   creation_date: bool = False, piece_length: Optional[int] = None) -> str: ...
