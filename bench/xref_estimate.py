#!/usr/bin/env python3
"""Estimate (issue 24, compression across shards): what would compressing each frame of a
format-2 corpus against frames of earlier shards save? Nothing is written; the corpus is read.

For each frame of each shard (in shard order), the blobs it stores are matched to their
previous version: the blob stored last, in an earlier shard, under the same project, kind of
distribution and path inside it. The frame's bytes are compressed again (zstd, level $LEVEL,
default 10) with, as a raw-content dictionary (what a zstd prefix reference gives a decoder
that has the base decoded):
  ref(any)  the one earlier frame holding the most bytes of those previous versions;
  ref(d1)   the same, when that frame itself has no base (one decode more to read it);
  ref(d2)   the same, when its base has no base (at most two more);
  top3      the three such frames, concatenated;
  exact     the previous versions themselves, concatenated (a bound for per-blob references);
  names     those, then for each blob without one the blob stored last, in an earlier shard,
            under the same file name in any project (similarity across projects), up to
            twice the frame's size.
$VARIANTS (comma list, default all) picks the variants to compute (the others report the
stored size). Each keeps the stored size when it does not help. Prints running totals per shard and a JSON
summary. Needs pyarrow and zstandard (tests/requirements.txt).

    python3 bench/xref_estimate.py CORPUS
"""
import json, os, struct, sys, collections, time
import pyarrow.parquet as pq
import zstandard

corpus = sys.argv[1]
LEVEL = int(os.environ.get("LEVEL", "10"))
VARIANTS = set((os.environ.get("VARIANTS") or "any,d1,d2,top3,exact,names").split(","))
shards_dir = os.path.join(corpus, "shards")
names = sorted(n for n in os.listdir(shards_dir) if n.isdigit())


def read_idx(d):
    b = open(os.path.join(d, "blobs.idx"), "rb").read()
    blobs, frames = struct.unpack_from("<QQ", b, 8)
    at = 8 + 16 + 256 * 4
    entries = {}
    for i in range(blobs):
        o = b[at + i * 32: at + i * 32 + 20]
        fr, off, ln = struct.unpack_from("<III", b, at + i * 32 + 20)
        entries[o] = (fr, off, ln)
    at2 = at + blobs * 32
    fr = [struct.unpack_from("<QII", b, at2 + i * 16) for i in range(frames)]
    return entries, fr


packs = {}
for n in names:
    d = os.path.join(shards_dir, n)
    packs[int(n)] = (d,) + read_idx(d)
dctx = zstandard.ZstdDecompressor()
cache = {}


def raw_frame(s, f):
    k = (s, f)
    if k not in cache:
        d, _, frames = packs[s]
        off, clen, ln = frames[f]
        with open(os.path.join(d, "blobs.pack"), "rb") as fh:
            fh.seek(off)
            c = fh.read(clen)
        cache[k] = dctx.decompress(c, max_output_size=ln)
        if len(cache) > 64:
            cache.pop(next(iter(cache)))
    return cache[k]


where = {}  # oid -> (shard, frame)
for s, (d, entries, frames) in packs.items():
    for o, (fr, off, ln) in entries.items():
        where[o] = (s, fr)
# latest earlier version of each (project, path), shard by shard
latest = {}  # (project, path) -> oid (the version stored last, in shard order)
by_name = {}  # file name -> oid (the blob stored last under it, in shard order)
plain = ref_any = ref_d1 = ref_d2 = top3 = exact = names = 0
depth = {}  # (shard, frame) -> depth chosen in the depth<=2 variant
t0 = time.time()
for s in sorted(packs):
    d, entries, frames = packs[s]
    t = pq.read_table(os.path.join(d, "files.parquet"), columns=["project_name", "archive_path", "dist_type", "hash", "skip_reason"])
    rows = t.to_pydict()
    pred = {}  # oid stored here -> predecessor oid
    named = {}  # oid stored here -> a blob of an earlier shard under the same file name
    mine = []
    for p, path, dt, h, sk in zip(rows["project_name"], rows["archive_path"], rows["dist_type"], rows["hash"], rows["skip_reason"]):
        if sk is not None or h is None:
            continue
        inner = path.split("/", 1)[-1] if dt == "sdist" else path
        key = (p, dt, inner)
        if h in entries and key in latest and latest[key] != h and h not in pred:
            pred[h] = latest[key]
        base = inner.rsplit("/", 1)[-1]
        if h in entries and base in by_name and by_name[base] != h and h not in named:
            named[h] = by_name[base]
        mine.append((key, h))
    blobs_of = collections.defaultdict(list)  # frame -> the ids it stores
    for o, e in entries.items():
        blobs_of[e[0]].append(o)
    by_frame = collections.defaultdict(collections.Counter)
    for o, q in pred.items():
        by_frame[entries[o][0]][where[q]] += entries[o][2]
    for f, (off, clen, ln) in enumerate(frames):
        plain += clen
        raw = raw_frame(s, f)
        best = {"any": clen, "d1": clen, "d2": clen}
        depth[(s, f)] = 0
        cands = [b for b, _ in by_frame[f].most_common(3) if b[0] != s]
        def with_dict(data):
            dic = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            return min(clen, len(zstandard.ZstdCompressor(level=LEVEL, dict_data=dic, write_content_size=False).compress(raw)))
        def blob(q):
            ws, wf = where[q]
            _, off_, ln_ = packs[ws][1][q]
            return raw_frame(ws, wf)[off_:off_ + ln_]
        for b in cands if VARIANTS & {"any", "d1", "d2"} else []:
            size = with_dict(raw_frame(*b))
            best["any"] = min(best["any"], size)
            bd = depth.get(b, 0)
            if bd == 0:
                best["d1"] = min(best["d1"], size)
            if bd <= 1 and size < best["d2"]:
                best["d2"] = size
                depth[(s, f)] = bd + 1
        ref_any += best["any"]; ref_d1 += best["d1"]; ref_d2 += best["d2"]
        top3 += with_dict(b"".join(raw_frame(*b) for b in cands[:3][::-1])) if cands and "top3" in VARIANTS else clen
        mine_f = blobs_of[f]
        preds = [pred[o] for o in mine_f if o in pred]
        ex = b"".join(blob(q) for q in preds)
        exact += with_dict(ex) if ex and "exact" in VARIANTS else clen
        if "names" in VARIANTS:
            extra, room = [], 2 * ln - len(ex)
            for o in mine_f:
                q = named.get(o)
                if o not in pred and q is not None and room > 0:
                    b_ = blob(q)
                    extra.append(b_)
                    room -= len(b_)
            dic = b"".join(extra) + ex  # the nearest (previous versions) last
            names += with_dict(dic) if dic else clen
        else:
            names += clen
    for key, h in mine:
        latest[key] = h
        by_name[key[2].rsplit("/", 1)[-1]] = h
    print("shard %d: %d frames, plain %.1f MB, ref(any) %.1f MB, ref(d1) %.1f, ref(d2) %.1f, top3 %.1f, exact preds %.1f, names %.1f (%.0f s)" % (
        s, len(frames), plain / 1e6, ref_any / 1e6, ref_d1 / 1e6, ref_d2 / 1e6, top3 / 1e6, exact / 1e6, names / 1e6, time.time() - t0), flush=True)
print(json.dumps({"corpus": corpus, "plain": plain, "ref_any": ref_any, "ref_d1": ref_d1, "ref_d2": ref_d2, "top3": top3, "exact": exact, "names": names}))
