#!/usr/bin/env python3
"""Benchmark of the pack's frame size and zstd level: what smaller frames cost in store size,
seal CPU and decoding, measured on the contents of a sealed corpus-v1 shard.

A selective search decodes each candidate blob's frame up to the blob, so its time follows the
frame size (`pack_frame_bytes`, default 6 MiB); smaller frames compress worse at the same level
(`pack_level`, default 10). This takes the first --sample-mb of the shard's frames (decoded, in
the pack's order: similar files next to each other, as a seal orders them), cuts them again into
frames of each size and compresses each cut at each level, single-threaded, with the `zstandard`
module (the same libzstd as the store). Reported: bytes against the default (6 MiB at level 10),
compression CPU seconds and decompression seconds for the sample.

    python3 bench/frames.py [--work /tmp/pycorpus-bench] [--sample-mb 160]

Needs the corpus that bench/ingest.py leaves in --work and `pip install zstandard`. Writes
bench/runs/<date>-<host>/frames.json.
"""
import glob
import os
import struct
import sys
import time
import runlog  # bench/runlog.py, beside this script

# (frame bytes, zstd level); the first is the default every other is compared with
CUTS = [(6 << 20, 10), (6 << 20, 16), (2 << 20, 10), (2 << 20, 16), (1 << 20, 10), (1 << 20, 13), (1 << 20, 16), (1 << 20, 19), (512 << 10, 16), (512 << 10, 19)]


def sample(shard, limit):
    """The first `limit` bytes (whole frames) of the shard's decoded frames, in pack order."""
    import zstandard

    idx = open(os.path.join(shard, "blobs.idx"), "rb").read()
    if idx[:8] == b"PYCIDX\x00\x01":
        blobs, frames = struct.unpack_from("<QQ", idx, 8)
        header = 8 + 16 + 1024
    elif idx[:8] == b"PYCIDX\x00\x02":
        blobs, frames, _deltas = struct.unpack_from("<QQQ", idx, 8)
        header = 8 + 24 + 1024
    else:
        sys.exit("%s: not a blobs.idx of version 1 or 2" % shard)
    table = header + blobs * 32
    out, size = [], 0
    d = zstandard.ZstdDecompressor()
    with open(os.path.join(shard, "blobs.pack"), "rb") as pack:
        for i in range(frames):
            offset, clen, rawlen = struct.unpack_from("<QII", idx, table + 16 * i)
            pack.seek(offset)
            out.append(d.decompress(pack.read(clen), max_output_size=rawlen))
            size += rawlen
            if size >= limit:
                break
    return b"".join(out)


def measure(data, frame, level):
    import zstandard

    c = zstandard.ZstdCompressor(level=level)
    t = time.process_time()
    frames = [c.compress(data[i : i + frame]) for i in range(0, len(data), frame)]
    compress = time.process_time() - t
    d = zstandard.ZstdDecompressor()
    t = time.process_time()
    for f in frames:
        d.decompress(f)
    return sum(map(len, frames)), compress, time.process_time() - t


def main():
    ap = runlog.arguments(__doc__, 1, binary=False)
    ap.add_argument("--sample-mb", type=int, default=160)
    a = ap.parse_args()
    shards = sorted(p for p in glob.glob(os.path.join(a.work, "corpus", "shards", "*")) if os.path.isfile(os.path.join(p, "blobs.pack")))
    if not shards:
        sys.exit("no sealed shard in %s/corpus: run bench/ingest.py first" % a.work)
    data = sample(shards[0], a.sample_mb << 20)
    print("sample: %.1f MB of %s" % (len(data) / 1e6, shards[0]))
    rows = []
    for frame, level in CUTS:
        n, c, d = measure(data, frame, level)
        rows.append({"frame_bytes": frame, "level": level, "bytes": n, "compress_cpu_s": round(c, 2), "decompress_cpu_s": round(d, 3)})
        base = rows[0]
        print(
            "%5d KiB level %2d: %6.2f MB (%+5.1f %%), compress %5.1f s (%4.1fx), decompress %.2f s"
            % (frame >> 10, level, n / 1e6, 100 * (n / base["bytes"] - 1), c, c / base["compress_cpu_s"], d),
            flush=True,
        )
    runlog.save("frames", {"shard": shards[0], "sample_bytes": len(data), "cuts": rows})


if __name__ == "__main__":
    main()
