"""`git cat-file --batch` framing (`<oid> <type> <size>\n<contents>\n`), as the seed's pipeline
and `pycorpus stream --format raw` write it: the reader loop of the anchors and oracles."""


def blobs(f):
    """Yields (oid, contents) from the binary stream `f` until it ends."""
    while True:
        header = f.readline()
        if not header:
            return
        oid, _, size = header.split()
        data = f.read(int(size))
        f.read(1)
        yield oid.decode(), data
