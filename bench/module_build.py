"""What the benchmarks of the Python module check first: that the installed module is a release
build. The README's test command installs a debug one (`--profile dev`, like the tests' binary),
which runs `iter_files` about three times slower than the build `pip install .` makes; timing it
by mistake would put that in BENCHMARKS.md."""
import os
import sys


def require_release():
    """Exits with a message naming the fix when the installed module is a debug build; returns
    the module's folder otherwise (recorded with the run)."""
    try:
        import pycorpus
        from pycorpus import _native
    except ImportError as e:
        sys.exit("bench: cannot import the pycorpus module (%s): run `pip install .` in the checkout" % e)
    where = os.path.dirname(pycorpus.__file__)
    debug = getattr(_native, "DEBUG_BUILD", None)
    if debug is not False:
        what = "is a debug build, as the test command installs it" if debug else "is older than this check (it does not say how it was built)"
        sys.exit("bench: the installed pycorpus module (%s) %s; run `pip install .` in the checkout "
                 "(a release build) before timing it" % (where, what))
    return where
