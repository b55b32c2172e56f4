#!/usr/bin/env python3
"""Writes scripts/demo.tsv, the demo's default selection: for each of a dozen well-known
projects, the last sdist uploaded in each year from FIRST_YEAR to LAST_YEAR (so that the
report's "over time" charts have a point a year), as a lock file for `pycorpus sync --lock`.

Asks the JSON API of the index the local pip uses (names no host). Run it again to move the
window; the list it writes is what the demo syncs, byte for byte.
usage: scripts/make_demo_selection.py [--first-year 2014] [--last-year 2025]
"""
import argparse
import json
import os
import urllib.request

from pip._internal.models.index import PyPI

PROJECTS = ["requests", "urllib3", "certifi", "idna", "six", "attrs", "packaging", "click", "flask", "jinja2", "markupsafe", "pyyaml"]

ap = argparse.ArgumentParser()
ap.add_argument("--first-year", type=int, default=2014)
ap.add_argument("--last-year", type=int, default=2025)
a = ap.parse_args()
rows = []
for project in PROJECTS:
    with urllib.request.urlopen(PyPI.url.rstrip("/") + "/pypi/%s/json" % project, timeout=60) as r:
        releases = json.load(r)["releases"]
    last = {}  # year -> (upload time, version, file)
    for version, files in releases.items():
        for f in files:
            year = int(f["upload_time_iso_8601"][:4])
            if f["packagetype"] != "sdist" or f["yanked"] or not a.first_year <= year <= a.last_year:
                continue
            key = (f["upload_time_iso_8601"], version, f)
            if year not in last or key[0] > last[year][0]:
                last[year] = key
    for year in sorted(last):
        t, version, f = last[year]
        rows.append((project, version, f["filename"], str(f["size"]), f["digests"]["sha256"], t))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.tsv")
with open(out, "w") as w:
    w.write("project\tversion\tfilename\tsize\tsha256\tupload_time\n")
    for r in rows:
        w.write("\t".join(r) + "\n")
print("%s: %d files, %.1f MB" % (out, len(rows), sum(int(r[3]) for r in rows) / 1e6))
