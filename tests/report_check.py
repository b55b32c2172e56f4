"""Checks a `pycorpus report` page the way a reader sees it: opens it in headless Chromium
(Debian's package), reads the rendered DOM and compares every chart point, every bar and every
table with the CSV tables, then takes a screenshot and checks that the charts are on it.

Used by tests/test_report.py on a generated corpus and by bench/report.py on corpus-v1:

    python3 tests/report_check.py --html R/report.html --csv R/tables --screenshot shot.png
"""
import argparse
import csv
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cell(rows, **key):
    hits = [r for r in rows if all(r[k] == v for k, v in key.items())]
    assert len(hits) == 1, (key, hits)
    return hits[0]


class Dom(HTMLParser):
    """Chart points, bars and tables of the page as Chromium rendered it."""

    def __init__(self):
        super().__init__()
        self.points, self.bars, self.tables, self.scripts = [], [], {}, 0
        self._table, self._row, self._cell = None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "circle" and a.get("class") == "pt":
            self.points.append(a)
        elif tag == "rect" and a.get("class") == "bar":
            self.bars.append(a)
        elif tag == "table":
            self._table = self.tables.setdefault(a["data-table"], [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None


def chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "Chromium is needed (Debian package chromium; scripts/test.sh installs it)"
    return exe


def headless(page, work, *args):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
           "--user-data-dir=%s" % (Path(work) / "chromium-profile"), *args, page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def png_colours(path):
    """The set of RGB colours of a PNG (8-bit RGB or RGBA, non-interlaced), decoded by hand."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, kind = 8, b"", 0, 0, 0
    while pos < len(data):
        n, t = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if t == b"IHDR":
            width, height, depth, kind = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and kind in (2, 6), (depth, kind)
        elif t == b"IDAT":
            idat += body
        pos += 12 + n
    raw, bpp = zlib.decompress(idat), 3 if kind == 2 else 4
    stride, prev, colours, i = width * bpp, bytearray(width * bpp), set(), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[x:x + 3]) for x in range(0, stride, bpp))
        prev = line
    return colours


BLUE = bytes([0x4E, 0x79, 0xA7])  # the first series' colour



def check_page(html, csv_dir, work, screenshot, min_units=1):
    """Compares the rendered page with the CSV tables (AssertionError on any difference) and
    saves a screenshot; returns what was compared."""
    html, csv_dir = Path(html), Path(csv_dir)
    dom = Dom()
    dom.feed(headless(html, work, "--dump-dom"))
    assert dom.scripts == 0, "the page runs no script (and no name from the data became markup)"

    # every point of every line chart is a row of its table, with the same numbers
    versions = read_csv(csv_dir / "metadata_versions.csv")
    version_units = {}
    for r in versions:
        version_units[r["period"]] = version_units.get(r["period"], 0) + int(r["releases"])
    for r in versions:
        r["units"] = str(version_units[r["period"]])
    tables = {
        "packaging": (read_csv(csv_dir / "packaging.csv"), "fact", "sdist_releases", "with_fact"),
        "build_backends": (read_csv(csv_dir / "build_backends.csv"), "backend", "pyproject_releases", "releases"),
        "packaging_metadata": (read_csv(csv_dir / "packaging_metadata.csv"), "fact", "units", "with_fact"),
        "metadata_versions": (versions, "metadata_version", "units", "releases"),
        "stdlib_over_time": (read_csv(csv_dir / "stdlib_over_time.csv"), "module", "releases_with_python", "releases"),
    }
    adoption = read_csv(csv_dir / "adoption.csv")
    seen = set()
    for p in dom.points:
        if p["data-view"] in tables:
            rows, key, units, with_ = tables[p["data-view"]]
            row = cell(rows, period=p["data-period"], **{key: p["data-series"]})
        else:
            row = cell(adoption, view=p["data-view"], period=p["data-period"], feature=p["data-series"])
            units, with_ = "units", "with_feature"
        assert (p["data-value"], p["data-with"], p["data-units"]) == (row["percent"], row[with_], row[units]), (p, row)
        seen.add((p["data-view"], p["data-period"], p["data-series"]))
    # and every row with enough units is drawn
    assert {(r["view"], r["period"], r["feature"]) for r in adoption if int(r["units"]) >= min_units} <= seen
    assert {("packaging", r["period"], r["fact"]) for r in tables["packaging"][0] if int(r["sdist_releases"]) >= min_units} <= seen
    # the packaging metadata section: every fact of every period with enough releases is drawn
    assert {("packaging_metadata", r["period"], r["fact"]) for r in tables["packaging_metadata"][0] if int(r["units"]) >= min_units} <= seen
    assert {("metadata_versions", r["period"], r["metadata_version"]) for r in versions if int(r["units"]) >= min_units} <= seen

    bars = {(b["data-chart"], b["data-label"]): b for b in dom.bars}
    for r in read_csv(csv_dir / "min_versions.csv"):
        b = bars[("min-versions", r["min_version"])]
        assert (b["data-value"], b["data-count"]) == (r["releases_percent"], r["releases"])
    imports = read_csv(csv_dir / "imports.csv")
    for kind, chart in (("stdlib", "imports-stdlib"), ("third-party", "imports-third-party")):
        drawn = [b for (c, _), b in bars.items() if c == chart]
        for r in [r for r in imports if r["kind"] == kind][:len(drawn)]:
            b = bars[(chart, r["module"])]
            assert (b["data-value"], b["data-count"]) == (r["releases_percent"], r["releases"]), (b, r)

    summary = {r["item"]: r["value"] for r in read_csv(csv_dir / "summary.csv")}
    drawn = [b for (c, _), b in bars.items() if c == "most-required"]
    required = read_csv(csv_dir / "most_required.csv")
    assert len(drawn) == min(len(required), len(drawn)) and (drawn or not required)
    for r in required[:len(drawn)]:
        b = bars[("most-required", r["project"])]
        share = round(1000 * int(r["requiring_projects"]) / int(summary["projects"])) / 10
        assert (b["data-count"], b["data-value"]) == (r["requiring_projects"], "%.1f" % share), (b, r)

    # the tables in the page are the CSV files, cell for cell
    for name, rows in dom.tables.items():
        with open(csv_dir / (name + ".csv"), newline="") as f:
            want = list(csv.reader(f))
        assert rows == want[:len(rows)] and len(rows) > 1, name
    assert {"summary", "features_overall", "min_versions", "imports", "packaging_metadata", "metadata_versions", "most_required", "stdlib_movers"} <= set(dom.tables)

    # a screenshot: the page renders its charts (the first series' blue is on screen)
    headless(html, work, "--screenshot=%s" % screenshot, "--window-size=1400,3000")
    assert Path(screenshot).stat().st_size > 20_000
    colours = png_colours(screenshot)
    assert BLUE in colours and len(colours) > 50, len(colours)
    return {"points": len(dom.points), "bars": len(dom.bars), "tables": {k: len(v) - 1 for k, v in dom.tables.items()},
            "screenshot_colours": len(colours)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--html", required=True)
    ap.add_argument("--csv", required=True, help="the folder of `report --csv`")
    ap.add_argument("--screenshot", required=True)
    ap.add_argument("--min-units", type=int, default=5, help="as given to report")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        print(json.dumps(check_page(a.html, a.csv, work, a.screenshot, a.min_units)))


if __name__ == "__main__":
    sys.exit(main())
