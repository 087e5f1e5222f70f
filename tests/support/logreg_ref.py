#!/usr/bin/python3
# scikit-learn reference for src/train/linear.h (tests/unit/test_linear.cpp, bench/bench_linear.cpp),
# run by Debian's /usr/bin/python3 (python3-sklearn 1.2, numpy, scipy). Independent of the C++ code:
# the fits are sklearn's LogisticRegression, the featuriser is recomputed with numpy/scipy and
# sklearn's TfidfTransformer.
#
# usage:
#   logreg_ref.py fit DIR [DIR...]   each DIR holds a case:
#       meta.txt  "n cols K C balanced full"   (K = number of classes, labels 0..K-1 all present)
#       offsets.u64 (n+1), index.u32, value.f32, y.i32
#     writes DIR/coef.f64 (rows x cols, rows = 1 for K == 2 else K), DIR/intercept.f64,
#     DIR/proba.f64 (n x K) and DIR/info.txt
#     "lbfgs_iter ncg_iter lbfgs_dev grad_norm objective".
#     Fit: LogisticRegression(C, class_weight='balanced'|None, solver='lbfgs', tol=1e-12,
#     max_iter=100000, multi_class='multinomial' for K >= 3, default 'auto' (the sigmoid) for
#     K == 2, warm_start=True), then the same estimator refitted from that solution with
#     solver='newton-cg', tol=1e-8/C, max_iter=1000. Why the second fit: scipy's L-BFGS-B also
#     stops when the objective's relative decrease falls below its ftol = 2.2e-9, which
#     LogisticRegression does not expose; measured on these cases the lbfgs fit alone stops with
#     gradient norms of 1e-4..3e-2 and coefficients up to ~1e-3 off the optimum, whatever tol is.
#     Newton-CG's test is on the gradient itself. lbfgs_dev is the max-abs change of the
#     coefficients made by the polish (how far plain lbfgs was). grad_norm / objective: 2-norm of
#     the gradient of C·Σ s_i loss_i + ½‖W‖², and that objective, at the final solution (numpy).
#     Unless full = 1, sklearn sees only the columns that occur in X (the others' coefficients
#     are exactly 0 in any L2 fit: their gradient is the coefficient itself) — the same problem,
#     ~50x faster than 2^18 mostly-empty columns; coef.f64 is expanded back to all columns.
#   logreg_ref.py bench DIR          one lbfgs fit as a user would run it (all columns, no
#       polish); prints "seconds n_iter".
#   logreg_ref.py tfidf DIR          meta.txt "n buckets n_docs"; tok_offsets.u64 (n+1),
#       tok_ids.u32, vocab_id.u32, vocab_df.u64, idf_cpp.f32 (the C++ bucket_idf, used for the
#       transform so that both checks are independent); writes idf.f64 (numpy) and the
#       TfidfTransformer(sublinear_tf=True, norm='l2') rows of the bucket counts as
#       tf_offsets.u64, tf_index.u32 (sorted within rows), tf_value.f64.
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp


def rd(d, name, dt):
    return np.fromfile(os.path.join(d, name), dtype=dt)


def load_case(d):
    with open(os.path.join(d, "meta.txt")) as f:
        n, cols, K, C, bal, full = f.read().split()
    n, cols, K, C, bal, full = int(n), int(cols), int(K), float(C), int(bal), int(full)
    off = rd(d, "offsets.u64", np.uint64).astype(np.int64)
    idx = rd(d, "index.u32", np.uint32).astype(np.int64)
    val = rd(d, "value.f32", np.float32).astype(np.float64)
    y = rd(d, "y.i32", np.int32).astype(np.int64)
    assert off.size == n + 1 and y.size == n and idx.size == val.size == off[-1]
    X = sp.csr_matrix((val, idx, off), shape=(n, cols))
    return X, y, K, C, bal, full


def make_model(K, C, bal, warm):
    from sklearn.linear_model import LogisticRegression

    kw = dict(C=C, class_weight="balanced" if bal else None, solver="lbfgs", tol=1e-12, max_iter=100000,
              warm_start=warm)
    if K >= 3:
        kw["multi_class"] = "multinomial"
    return LogisticRegression(**kw)


def grad_and_objective(X, y, K, C, bal, coef, intercept):
    n = X.shape[0]
    counts = np.bincount(y, minlength=K).astype(np.float64)
    s = n / (K * counts[y]) if bal else np.ones(n)
    if K == 2:
        v, c = coef[0], intercept[0]
        z = X @ v + c
        ys = 2.0 * y - 1.0
        loss = np.logaddexp(0.0, -ys * z)
        p = 1.0 / (1.0 + np.exp(-z))
        r = C * s * (p - y)
        g = np.concatenate([X.T @ r + v, [r.sum()]])
        obj = C * np.dot(s, loss) + 0.5 * np.dot(v, v)
    else:
        Z = X @ coef.T + intercept[None, :]
        mx = Z.max(axis=1, keepdims=True)
        E = np.exp(Z - mx)
        lse = mx[:, 0] + np.log(E.sum(axis=1))
        P = E / E.sum(axis=1, keepdims=True)
        Y = np.zeros_like(P)
        Y[np.arange(n), y] = 1.0
        R = C * s[:, None] * (P - Y)
        gW = (X.T @ R).T + coef
        g = np.concatenate([gW.ravel(), R.sum(axis=0)])
        obj = C * np.dot(s, lse - Z[np.arange(n), y]) + 0.5 * np.sum(coef * coef)
    return float(np.sqrt(np.dot(g, g))), float(obj)


def cmd_fit(dirs):
    warnings.simplefilter("ignore")
    for d in dirs:
        X, y, K, C, bal, full = load_case(d)
        if np.unique(y).size != K:
            sys.exit(f"{d}: labels {np.unique(y)} do not cover 0..{K - 1}")
        used = np.arange(X.shape[1]) if full else np.unique(X.indices)
        Xu = X[:, used]
        m = make_model(K, C, bal, warm=True)
        m.fit(Xu, y)
        lbfgs_iter = int(np.max(m.n_iter_))
        first = np.concatenate([m.coef_.ravel(), m.intercept_.ravel()])
        m.set_params(solver="newton-cg", tol=1e-8 / C, max_iter=1000)
        m.fit(Xu, y)
        ncg_iter = int(np.max(m.n_iter_))
        dev = float(np.max(np.abs(np.concatenate([m.coef_.ravel(), m.intercept_.ravel()]) - first)))
        gn, obj = grad_and_objective(Xu, y, K, C, bal, m.coef_, m.intercept_)
        coef = np.zeros((m.coef_.shape[0], X.shape[1]))
        coef[:, used] = m.coef_
        coef.tofile(os.path.join(d, "coef.f64"))
        m.intercept_.astype(np.float64).tofile(os.path.join(d, "intercept.f64"))
        m.predict_proba(Xu).astype(np.float64).tofile(os.path.join(d, "proba.f64"))
        with open(os.path.join(d, "info.txt"), "w") as f:
            f.write(f"{lbfgs_iter} {ncg_iter} {dev!r} {gn!r} {obj!r}\n")


def cmd_bench(d):
    # As a user would run it: all columns, lbfgs only.
    warnings.simplefilter("ignore")
    X, y, K, C, bal, full = load_case(d)
    m = make_model(K, C, bal, warm=False)
    t0 = time.perf_counter()
    m.fit(X, y)
    t = time.perf_counter() - t0
    print(f"{t!r} {int(np.max(m.n_iter_))}")


def cmd_tfidf(d):
    from sklearn.feature_extraction.text import TfidfTransformer

    with open(os.path.join(d, "meta.txt")) as f:
        n, B, n_docs = (int(v) for v in f.read().split())
    off = rd(d, "tok_offsets.u64", np.uint64).astype(np.int64)
    ids = rd(d, "tok_ids.u32", np.uint32).astype(np.int64)
    vid = rd(d, "vocab_id.u32", np.uint32).astype(np.int64)
    vdf = rd(d, "vocab_df.u64", np.uint64)
    idf_cpp = rd(d, "idf_cpp.f32", np.float32).astype(np.float64)
    assert off.size == n + 1 and idf_cpp.size == B
    # idf from the vocabulary (python ints: exact sums).
    dfb = [0] * B
    for i, f in zip(vid.tolist(), vdf.tolist()):
        dfb[i % B] += f
    dfb = np.array([min(v, n_docs) for v in dfb], dtype=np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + dfb)) + 1.0
    idf.tofile(os.path.join(d, "idf.f64"))
    # Bucket counts, then sklearn's sublinear TF-IDF with the C++ idf.
    rows = np.repeat(np.arange(n), np.diff(off))
    counts = sp.coo_matrix((np.ones(ids.size), (rows, ids[off[0]:off[-1]] % B)), shape=(n, B)).tocsr()
    counts.sum_duplicates()
    t = TfidfTransformer(norm="l2", use_idf=True, smooth_idf=True, sublinear_tf=True)
    t.idf_ = idf_cpp
    T = sp.csr_matrix(t.transform(counts), dtype=np.float64)
    T.sort_indices()
    T.indptr.astype(np.uint64).tofile(os.path.join(d, "tf_offsets.u64"))
    T.indices.astype(np.uint32).tofile(os.path.join(d, "tf_index.u32"))
    T.data.astype(np.float64).tofile(os.path.join(d, "tf_value.f64"))


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: logreg_ref.py fit DIR... | bench DIR | tfidf DIR")
    mode = sys.argv[1]
    if mode == "fit":
        cmd_fit(sys.argv[2:])
    elif mode == "bench":
        cmd_bench(sys.argv[2])
    elif mode == "tfidf":
        cmd_tfidf(sys.argv[2])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
