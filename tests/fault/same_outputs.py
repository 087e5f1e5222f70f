"""same_outputs.py REF OUT: OUT holds the same outputs as REF (an uninterrupted run's).

Every file of REF exists in OUT and no other file does (no leftover temporaries); HDF5 files have
the same datasets with equal contents and the same attributes (trawl's outputs carry no clock
readings, so all of them); text files are equal line for line except '#' comment lines and the
columns whose header names a time ('seconds', 'time', 'elapsed'). Exit 1 naming the first
difference.
"""
import os
import sys

import h5py
import numpy as np

ref, out = sys.argv[1], sys.argv[2]
TIMED = ("seconds", "time", "elapsed", "_s")


def files(root):
    got = set()
    for d, _, fs in os.walk(root):
        for f in fs:
            got.add(os.path.relpath(os.path.join(d, f), root))
    return got


def fail(msg):
    print("DIFFERENT:", msg)
    sys.exit(1)


def text_rows(path):
    rows, keep = [], None
    with open(path, "rb") as f:
        for raw in f.read().decode("utf-8", "replace").splitlines():
            if raw.startswith("#"):
                continue
            cols = raw.split("\t")
            if keep is None:  # header
                keep = [i for i, c in enumerate(cols) if not any(t in c.lower() for t in TIMED)]
            rows.append([cols[i] for i in keep if i < len(cols)])
    return rows


def attrs(obj):
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()}


a, b = files(ref), files(out)
if a != b:
    fail("files only in the rerun: %s; only in the reference: %s" % (sorted(b - a), sorted(a - b)))
for rel in sorted(a):
    p, q = os.path.join(ref, rel), os.path.join(out, rel)
    if h5py.is_hdf5(p):
        if not h5py.is_hdf5(q):
            fail(rel + ": not an HDF5 file in the rerun")
        with h5py.File(p, "r") as x, h5py.File(q, "r") as y:
            if attrs(x) != attrs(y):
                fail(rel + ": file attributes differ")
            names = []
            x.visit(lambda n: names.append(n) if isinstance(x[n], h5py.Dataset) else None)
            ny = []
            y.visit(lambda n: ny.append(n) if isinstance(y[n], h5py.Dataset) else None)
            if sorted(names) != sorted(ny):
                fail("%s: datasets %s vs %s" % (rel, sorted(names), sorted(ny)))
            for n in names:
                u, v = x[n][()], y[n][()]
                if np.shape(u) != np.shape(v) or not np.array_equal(u, v):
                    fail("%s: dataset %s differs" % (rel, n))
                if attrs(x[n]) != attrs(y[n]):
                    fail("%s: attributes of %s differ" % (rel, n))
    elif text_rows(p) != text_rows(q):
        fail(rel + ": contents differ")
print("same: %d files" % len(a))
