#!/usr/bin/python3
# Embedding quality for the rare class of a labelled pool (docs/RESULTS.md, "Pool-fitted LSA
# embeddings"). Run by Debian's /usr/bin/python3 (numpy, h5py, scikit-learn).
#
#   lsa_quality.py --class RARE --name NAME POOL_DIR [--name NAME2 POOL_DIR2 ...]
#
# For each pool directory (trawl-embed shards with a label column, the same items in each):
#  * purity@50: for up to --queries rare items (a fixed random sample), the share of their 50
#    nearest neighbours (cosine, the item itself excluded, over the whole pool) in the rare class;
#    mean over the queries. The base rate is what a random embedding gives.
#  * best F1: a class-weighted L2 logistic regression (sklearn, lbfgs, C = --C, converged) on the
#    embeddings of a stratified 50% train split (keyed by uid), the best F1 of the rare class
#    over thresholds on the other 50%, and the average precision there.
# Prints one TSV row per pool.
import argparse
import glob
import sys
import time

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve


def load(d):
    E, L, U = [], [], []
    for p in sorted(glob.glob(d + "/shard-*.h5")):
        with h5py.File(p, "r") as f:
            E.append(f["embedding"][:].astype(np.float32))
            lb, lo = f["label_bytes"][:], f["label_offsets"][:]
            b = lb.tobytes()
            L.extend(b[lo[i]:lo[i + 1]].decode() for i in range(len(lo) - 1))
            U.append(f["uid"][:])
    return np.vstack(E), np.array(L), np.concatenate(U)


def purity(E, y, queries, k=50, block=256):
    out = []
    for s in range(0, len(queries), block):
        q = queries[s:s + block]
        S = E[q] @ E.T
        S[np.arange(len(q)), q] = -np.inf
        nn = np.argpartition(-S, k, axis=1)[:, :k]
        out.append(y[nn].mean(axis=1))
    return float(np.concatenate(out).mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--class", dest="cls", required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("pools", nargs="+", help="NAME=DIR")
    a = ap.parse_args()
    print("pool\tdim\titems\trare\tpurity@50\tbase_rate\tbest_f1\tap\tseconds")
    for spec in a.pools:
        name, d = spec.split("=", 1)
        t0 = time.time()
        E, L, U = load(d)
        y = (L == a.cls).astype(np.int64)
        rng = np.random.default_rng(0)
        rare = np.flatnonzero(y)
        q = rng.choice(rare, size=min(a.queries, len(rare)), replace=False)
        pur = purity(E, y, q)
        # Stratified split keyed by uid (the same for every pool of the same items).
        h = (U * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        train = (h % np.uint64(2)) == 0
        clf = LogisticRegression(C=a.C, class_weight="balanced", max_iter=5000, tol=1e-6)
        clf.fit(E[train], y[train])
        s = clf.decision_function(E[~train])
        p, r, _ = precision_recall_curve(y[~train], s)
        f1 = np.max(np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0))
        ap_ = average_precision_score(y[~train], s)
        print(f"{name}\t{E.shape[1]}\t{len(y)}\t{y.sum()}\t{pur:.3f}\t{y.mean():.4f}\t{f1:.3f}\t{ap_:.3f}\t{time.time() - t0:.0f}",
              flush=True)


if __name__ == "__main__":
    main()
