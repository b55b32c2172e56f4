#!/usr/bin/env bash
# Installs what the tests need, then runs every test: the Rust suites (unit + end-to-end) and
# the Python suite (oracle agreement, pyarrow and DuckDB loading, the report in headless Chromium). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies (Python: tests/requirements.txt)"
python3 -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

if ! command -v rg >/dev/null 2>&1; then
  echo "== installing ripgrep (Debian package): the grep tests compare against it"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq ripgrep >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq ripgrep; }
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Chromium (Debian package): the report test opens the page headless"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium; }
fi

echo "== building"
cargo build --workspace --tests --bins

echo "== Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

echo "== Python tests"
PYCORPUS_BIN="$PWD/target/debug/pycorpus" python3 -m pytest tests -q -p no:cacheprovider
