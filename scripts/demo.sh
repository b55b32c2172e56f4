#!/usr/bin/env bash
# The main job end to end on a small default selection: mirror the latest sdist and wheel of a
# dozen well-known projects from your package index (the one pip uses, or PIP_INDEX_URL) with
# `pycorpus sync`, seal, verify, search, parse every Python file once (`analyze`) and write the
# adoption report (`report`): prints where the report is.
# Usage: scripts/demo.sh [CORPUS_DIR]   (default ./pycorpus-data)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus="${1:-pycorpus-data}"
cargo build --release -p pycorpus
bin="$PWD/target/release/pycorpus"
sel="$(mktemp)"
# The default selection: latest sdist and wheel of twelve well-known projects, pinned by sha256.
awk -F'\t' 'NR==1 || (tolower($1) ~ /^(requests|urllib3|certifi|idna|six|attrs|packaging|click|flask|jinja2|markupsafe|pyyaml)$/ && n[$1]++ < 2)' \
    ../shared/bench/corpus-v1.tsv > "$sel"
"$bin" --corpus "$corpus" init
"$bin" --corpus "$corpus" sync --lock "$sel"
rm -f "$sel"
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
