"""Where benchmark runs are kept: bench/runs/<date>-<host>/<name>.json (BENCHMARKS.md cites them)."""
import json
import os
import platform
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, res):
    """Writes `res` as bench/runs/<today>-<host>/<name>.json and says where."""
    run_dir = os.path.join(HERE, "runs", time.strftime("%Y-%m-%d") + "-" + platform.node())
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, name + ".json")
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    print("written", os.path.relpath(path, os.path.dirname(HERE)))
    return path


def arguments(doc, repeat, binary=True):
    """The options every corpus-v1 benchmark takes (--work, --bin, --repeat), to add its own to."""
    import argparse

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/pycorpus-bench")
    if binary:
        ap.add_argument("--bin", default=os.path.join(os.path.dirname(HERE), "target", "release", "pycorpus"))
    ap.add_argument("--repeat", type=int, default=repeat)
    return ap


def ingested(work):
    """The corpus and the seed's git anchor that bench/ingest.py leaves in `work`, or exit."""
    import sys

    corpus, anchor = os.path.join(work, "corpus"), os.path.join(work, "anchor.git")
    for p in (corpus, anchor):
        if not os.path.isdir(p):
            sys.exit("%s is missing: run bench/ingest.py first" % p)
    return corpus, anchor
