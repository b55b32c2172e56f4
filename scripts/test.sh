#!/usr/bin/env bash
# Installs what the tests need, checks formatting and lints, then runs every test: the Rust suites (unit + end-to-end), the
# scale check (bench/scale.py --quick: a generated index at two sizes through every command,
# asserting flat peak memory) and the Python suite (oracle agreement, pyarrow and DuckDB
# loading, the report and the web front end in headless Chromium, BitTorrent swarms on 127.0.0.1 with opentracker
# and aria2). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# A test run builds once: incremental caches would only double the build's disk use (2+ GB).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "== installing test dependencies (Python: tests/requirements.txt)"
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

# need COMMAND PACKAGE WHY: installs a Debian package when its command is missing.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  echo "== installing $2 (Debian package): $3"
  local SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq "$2" >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "$2"; }
}
need rg ripgrep "the grep tests compare against it"
need chromium chromium "the report and web front end tests open pages headless"
need chromedriver chromium-driver "the web front end's browser test drives Chromium through it"
need aria2c aria2 "the sharing tests swap torrents with an independent client"
need opentracker opentracker "the sharing tests announce through a real tracker"

echo "== lints: rustfmt and clippy (warnings are errors)"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== building"
cargo build --workspace --tests --bins

echo "== building the Python module (pip install . : maturin, debug profile like the tests' binary)"
MATURIN_PEP517_ARGS="--profile dev" python3 -m pip install --quiet --disable-pip-version-check .

echo "== Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc  # nextest does not run the examples in doc comments
else
  cargo test --workspace --no-fail-fast
fi

echo "== Scale check: a generated index at 1x and 2x (100,000 file rows each way), every command"
echo "   run against it on 127.0.0.1; export, report and stream must keep a flat peak memory, and"
echo "   export and report must agree with bench/check_scale.py (per-shard exports, Python dedup, DuckDB)"
python3 bench/scale.py --quick --check --no-record --bin "$PWD/target/debug/pycorpus" --work "${TMPDIR:-/tmp}/pycorpus-scale-check"

echo "== Python tests"
PYCORPUS_BIN="$PWD/target/debug/pycorpus" python3 -m pytest tests -q -p no:cacheprovider
