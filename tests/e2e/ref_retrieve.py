"""Independent brute-force AnchorAL reference (numpy + h5py, Debian's /usr/bin/python3).

Given the pool's shards, the labels TSV and the anchors trawl chose (anchors.tsv), computes
every anchor's K nearest unlabelled items by exact cosine distance over the union of all
shards, scores candidates 1 - mean distance, takes the top M (score desc, uid asc) and compares
with subpool.h5. Exits 1 with a message on any difference.
usage: ref_retrieve.py POOL LABELS ROUND_DIR K M
"""
import glob
import sys

import h5py
import numpy as np

pool, labels, rdir, K, M = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
uids, embs = [], []
for f in sorted(glob.glob(pool + "/shard-*.h5")):
    with h5py.File(f, "r") as h:
        uids.append(h["uid"][:])
        embs.append(h["embedding"][:].astype(np.float64))
uid = np.concatenate(uids)
X = np.concatenate(embs)
lab = np.loadtxt(labels, dtype=np.uint64, skiprows=1, usecols=0, delimiter="\t", ndmin=1)
anchors = np.loadtxt(rdir + "/anchors.tsv", dtype=np.uint64, skiprows=1, usecols=2, delimiter="\t", ndmin=1)
pos = {int(u): i for i, u in enumerate(uid)}
Q = X[[pos[int(a)] for a in anchors]]
mask = ~np.isin(uid, lab)
cand = {}
for q in Q:
    d = (1.0 - X[mask] @ q).astype(np.float32)
    u = uid[mask]
    order = np.lexsort((u, d))[:K]  # by distance, ties by uid
    for i in order:
        cand.setdefault(int(u[i]), []).append(float(d[i]))
scored = sorted(((1.0 - float(np.mean(v)), u, len(v)) for u, v in cand.items()), key=lambda t: (-t[0], t[1]))[:M]
with h5py.File(rdir + "/subpool.h5", "r") as h:
    su, ss, sc = h["uid"][:], h["score"][:], h["anchor_count"][:]
    se = h["embedding"][:]
if len(su) != len(scored):
    sys.exit(f"subpool has {len(su)} items, reference {len(scored)}")
ref_u = np.array([t[1] for t in scored], dtype=np.uint64)
ref_s = np.array([t[0] for t in scored])
if set(su.tolist()) != set(ref_u.tolist()):
    diff = set(su.tolist()) ^ set(ref_u.tolist())
    sys.exit(f"subpool uids differ from the reference in {len(diff)} items")
if not np.allclose(ss, ref_s, atol=1e-6):
    sys.exit(f"scores differ: max {np.max(np.abs(ss - ref_s))}")
if not np.allclose(se, X[[pos[int(u)] for u in su]].astype(np.float32)):
    sys.exit("subpool embeddings differ from the pool's")
print(f"reference agrees: {len(su)} items, {len(cand)} candidates, {len(anchors)} anchors")
