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
