"""detect-secrets' own `detect-secrets ...` command with one change: a file whose scan raises
is named on stderr ("skipped FILE: ERROR") and left out, instead of ending the whole run.

detect-secrets 1.5.0 stops at the first such file and prints nothing: on corpus-v1 that is a
YAML file whose `!!int` tag holds a template (`${{secrets.OPENPRLIMIT}}`, a GitHub workflow),
after 23 minutes. Every other file goes through the same code as in the unchanged command
(`scan.scan_file` in a process pool, the same settings and output). Run with the Python of
detect-secrets' environment: `python detect_secrets_guarded.py -c 2 scan --all-files .`
"""
import sys

from detect_secrets.core import secrets_collection
from detect_secrets.main import main

original = secrets_collection._scan_file_and_serialize


def guarded(filename):
    try:
        return original(filename)
    except Exception as e:  # noqa: BLE001 - whatever one file raises, the others are scanned
        sys.stderr.write("skipped %s: %s: %s\n" % (filename, type(e).__name__, str(e)[:200]))
        return []


# the pool pickles the function by name: the guard must answer to the original's
guarded.__module__, guarded.__qualname__ = original.__module__, original.__qualname__
secrets_collection._scan_file_and_serialize = guarded

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
