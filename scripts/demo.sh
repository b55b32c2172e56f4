#!/usr/bin/env bash
# The main job end to end on a small default selection: mirror one sdist a year (2014-2025) of
# a dozen well-known projects (scripts/demo.tsv: 127 files, 29.5 MB, pinned by sha256) from
# your package index (the one pip uses, or PIP_INDEX_URL) with `pycorpus sync --lock`, seal,
# verify, search, parse every Python file once (`analyze`) and write the adoption report
# (`report`, a point a year): prints where the report is.
# Usage: scripts/demo.sh [CORPUS_DIR]   (default ./pycorpus-data)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-pycorpus-data}"
cargo build --profile demo -p pycorpus   # a lighter release build (Cargo.toml, [profile.demo])
bin="$PWD/target/demo/pycorpus"
"$bin" --corpus "$corpus" init
"$bin" --corpus "$corpus" sync --lock scripts/demo.tsv
"$bin" --corpus "$corpus" seal
"$bin" --corpus "$corpus" verify
"$bin" --corpus "$corpus" status
echo
echo "A few files:"
"$bin" --corpus "$corpus" ls --path '*/pyproject.toml' --limit 5
echo
echo "Which files create TLS contexts? (grep -c: matching lines per file; [+N]: N more files hold the same blob)"
"$bin" --corpus "$corpus" grep -F 'ssl.create_default_context' --ext py -c --stats | head -10 || true
echo
echo "Parsing every unique Python file once (language facts per blob):"
"$bin" --corpus "$corpus" analyze
echo
echo "Charting feature and packaging adoption over time:"
"$bin" --corpus "$corpus" report --csv "$corpus/report/tables"
echo
echo "Query the index with DuckDB or pandas: $corpus/shards/*/files.parquet"
echo "the language facts:                    $corpus/analysis/facts-*.parquet"
echo "the report's tables:                   $corpus/report/tables/*.csv"
echo "Open the report in a browser:          $corpus/report/report.html"
echo "Search, browse and chart it in a browser (http://127.0.0.1:8000/, Ctrl-C to stop):"
echo "    $bin --corpus $corpus serve"
