#!/usr/bin/python3
# scikit-learn reference for the LSA fit (src/embed/lsa.h; tests/unit/test_lsa.cpp,
# bench/bench_lsa_fit.sh), run by Debian's /usr/bin/python3 (python3-sklearn 1.2, numpy, scipy).
# Independent of the C++ code: sklearn's TruncatedSVD(algorithm="randomized") and numpy's exact
# SVD of the same matrix.
#
# usage:
#   lsa_ref.py svd DIR    DIR/meta.txt "n cols dim n_iter oversample"; DIR/offsets.u64 (n+1),
#       index.u32, value.f32 (the CSR TF-IDF rows). Writes DIR/sk_sigma.f64 (dim),
#       DIR/sk_components.f64 (dim x cols, row-major) from TruncatedSVD(n_components=dim,
#       algorithm="randomized", n_iter, n_oversamples=oversample, random_state=0), and
#       DIR/exact_sigma.f64 (dim) from numpy.linalg.svd of the dense matrix (when n·cols <= 5e7).
#   lsa_ref.py bench DIR  the same fit as a user would run it, timed: prints "S s (cpu C s)", wall
#       and CPU seconds of the fit alone (the process's, every BLAS thread included).
import os
import sys
import time

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD


def rd(d, name, dt):
    return np.fromfile(os.path.join(d, name), dtype=dt)


def load(d):
    with open(os.path.join(d, "meta.txt")) as f:
        n, cols, dim, n_iter, over = (int(x) for x in f.read().split())
    off = rd(d, "offsets.u64", np.uint64).astype(np.int64)
    idx = rd(d, "index.u32", np.uint32).astype(np.int64)
    val = rd(d, "value.f32", np.float32).astype(np.float64)
    assert off.size == n + 1 and idx.size == val.size == off[-1]
    return sp.csr_matrix((val, idx, off), shape=(n, cols)), dim, n_iter, over


def main():
    mode, d = sys.argv[1], sys.argv[2]
    X, dim, n_iter, over = load(d)
    svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=n_iter, n_oversamples=over, random_state=0)
    t, c = time.perf_counter(), time.process_time()
    svd.fit(X)
    secs, cpu = time.perf_counter() - t, time.process_time() - c
    if mode == "bench":
        print(f"{secs:.3f} s (cpu {cpu:.3f} s)")
        return
    svd.singular_values_.astype(np.float64).tofile(os.path.join(d, "sk_sigma.f64"))
    svd.components_.astype(np.float64).tofile(os.path.join(d, "sk_components.f64"))
    if X.shape[0] * X.shape[1] <= 5e7:
        s = np.linalg.svd(X.toarray(), compute_uv=False)
        s[:dim].astype(np.float64).tofile(os.path.join(d, "exact_sigma.f64"))


if __name__ == "__main__":
    main()
