#!/usr/bin/python3
"""trawl's sparse logreg against scikit-learn on the same TF-IDF features.

Rebuilds trawl's token features in numpy/scipy from the shards' token ids (independently of
trawl's code, from the spec in docs/FORMATS.md / src/train/linear.h):

  bucket b = id % B (B = 2^18), tf_b = count of b in the row,
  value_b = (1 + ln tf_b) * idf[b], row L2-normalised (double, stored as float32);
  idf[b] = ln((1 + N) / (1 + df_b)) + 1 (float32), df_b = min(N, sum of the vocab's df over ids
  with id % B == b), N = the vocab's n_docs.

fits sklearn LogisticRegression(C, class_weight='balanced', solver='lbfgs') on every labelled
item outside trawl's test split (multinomial for 3+ classes, as trawl), and compares on the test
split: best-threshold F1 of the target, AP, ROC-AUC and F1 at argmax, for sklearn's model and for
trawl's pool scores (the all-label model of `trawl-simulate --rounds 1 --method random`). It also
checks that the two see the same problem: trawl's weights applied to these features reproduce
trawl's scores, the idf vectors agree, and trawl's probabilities / weights are close to sklearn's
(same convex objective). Prints a Markdown report. Run with /usr/bin/python3 (h5py, sklearn).
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import glob
import sys
import time

import h5py
import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve, roc_auc_score


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def shard_paths(pool):
    paths = sorted(glob.glob(os.path.join(pool, "shard-*.h5")))
    if not paths:
        sys.exit(f"{pool}: no shard-*.h5")
    return paths


def strings(f, name, lo, hi):
    o = f[name + "_offsets"][lo:hi + 1]
    raw = f[name + "_bytes"][o[0]:o[-1]].tobytes()
    o = (o - o[0]).astype(np.int64)
    return [raw[o[i]:o[i + 1]].decode() for i in range(hi - lo)]


def bucket_idf(vocab, buckets):
    with h5py.File(vocab, "r") as f:
        if f.attrs["trawl-format"] != "vocab":
            sys.exit(f"{vocab}: not a trawl vocab file")
        ids = f["id"][:].astype(np.int64)
        df = f["df"][:].astype(np.float64)
        n_docs = int(f.attrs["n_docs"])
    dfb = np.bincount(ids % buckets, weights=df, minlength=buckets)  # exact: sums < 2^53
    dfb = np.minimum(dfb, n_docs)
    idf = np.log((1.0 + n_docs) / (1.0 + dfb)) + 1.0
    return idf.astype(np.float32), n_docs


def tfidf_block(offsets, ids, buckets, idf64):
    """CSR (float32 values, sorted column ids) of the rows whose tokens are ids[offsets[i]-offsets[0] : ...]."""
    n = len(offsets) - 1
    lens = np.diff(offsets).astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), lens)
    cols = (ids.astype(np.int64) % buckets)
    # counts per (row, bucket): coo -> csr sums duplicates
    m = sp.coo_matrix((np.ones(len(cols), dtype=np.float64), (rows, cols)), shape=(n, buckets)).tocsr()
    m.sum_duplicates()
    m.sort_indices()
    val = (1.0 + np.log(m.data)) * idf64[m.indices]
    rl = np.diff(m.indptr)
    norm = np.sqrt(np.add.reduceat(val * val, m.indptr[:-1][rl > 0])) if val.size else np.zeros(0)
    nrm = np.ones(n)
    nrm[rl > 0] = norm
    nrm[nrm == 0] = 1.0
    val = val / np.repeat(nrm, rl)
    return sp.csr_matrix((val.astype(np.float32), m.indices.astype(np.int32), m.indptr), shape=(n, buckets))


def read_pool(pool, buckets, idf, block=50000):
    idf64 = idf.astype(np.float64)
    uids, labels, mats = [], [], []
    for p in shard_paths(pool):
        with h5py.File(p, "r") as f:
            if f.attrs["trawl-format"] != "shard" or "rows" not in f.attrs:
                sys.exit(f"{p}: not a complete trawl shard")
            if "label_offsets" not in f:
                sys.exit(f"{p}: no label column")
            n = int(f.attrs["rows"])
            off = f["token_offsets"][:]
            uids.append(f["uid"][:])
            for lo in range(0, n, block):
                hi = min(n, lo + block)
                ids = f["token_ids"][off[lo]:off[hi]]
                mats.append(tfidf_block(off[lo:hi + 1], ids, buckets, idf64))
                labels.extend(strings(f, "label", lo, hi))
    return np.concatenate(uids), np.array(labels, dtype=object), sp.vstack(mats, format="csr")


def read_test_split(path):
    with open(path) as fh:
        head = fh.readline().rstrip("\n").split("\t")
        if "uid" not in head:
            sys.exit(f"{path}: no 'uid' column in the header")
        k = head.index("uid")
        return np.array([int(line.rstrip("\n").split("\t")[k]) for line in fh if line.strip()], dtype=np.uint64)


def read_scores(scores_dir):
    paths = sorted(glob.glob(os.path.join(scores_dir, "shard-*.scores.h5")))
    if not paths:
        sys.exit(f"{scores_dir}: no shard-*.scores.h5")
    uids, probs, classes = [], [], None
    for p in paths:
        with h5py.File(p, "r") as f:
            c = f.attrs["classes"]
            c = c.decode() if isinstance(c, bytes) else c
            c = c.split("\n")
            if classes is None:
                classes = c
            elif c != classes:
                sys.exit(f"{p}: classes {c} differ from {classes}")
            uids.append(f["uid"][:])
            probs.append(f["probs"][:].astype(np.float64))
    return np.concatenate(uids), np.vstack(probs), classes


def read_metrics(path):
    """Round 0's row of trawl's metrics.tsv (comment lines start with '#')."""
    with open(path) as fh:
        lines = [l.rstrip("\n") for l in fh if l.strip() and not l.startswith("#")]
    head = lines[0].split("\t")
    rows = [dict(zip(head, l.split("\t"))) for l in lines[1:]]
    return rows[0] if rows else {}


def lookup(sorted_keys, keys, what):
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    bad = sorted_keys[pos] != keys
    if bad.any():
        sys.exit(f"{bad.sum()} test uids not found in {what} (first: {keys[bad][0]})")
    return pos


def target_metrics(y, p_target, pred_target):
    prec, rec, _ = precision_recall_curve(y, p_target)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-300), 0.0)
    return {
        "best_f1": float(f1.max()),
        "ap": float(average_precision_score(y, p_target)),
        "auc": float(roc_auc_score(y, p_target)),
        "f1_argmax": float(f1_score(y, pred_target, zero_division=0)),
    }


def objective(X, yi, K, C, W, b):
    """F = C * sum_i s_i * loss_i + |W|^2 / 2 (s_i balanced, intercept unpenalised) and |grad F|_2.
    K == 2: W is the sigmoid vector (F,), b a 1-vector, class 1 positive; else W [K, F], b [K]."""
    n = X.shape[0]
    cnt = np.bincount(yi, minlength=K)
    s = n / (np.count_nonzero(cnt) * cnt[yi].astype(np.float64))
    if K == 2:
        t = np.where(yi == 1, 1.0, -1.0)
        z = X @ W + b[0]
        F = C * np.sum(s * np.logaddexp(0, -t * z)) + 0.5 * W @ W
        r = C * s * (-t) * np.exp(-np.logaddexp(0, t * z))  # d loss / dz = -t * sigmoid(-t z)
        g = np.concatenate([X.T @ r + W, [r.sum()]])
    else:
        Z = X @ W.T + b
        mx = Z.max(1, keepdims=True)
        lse = (mx + np.log(np.exp(Z - mx).sum(1, keepdims=True)))[:, 0]
        F = C * np.sum(s * (lse - Z[np.arange(n), yi])) + 0.5 * np.sum(W * W)
        R = np.exp(Z - lse[:, None])
        R[np.arange(n), yi] -= 1.0
        R *= C * s[:, None]
        g = np.concatenate([(X.T @ R).T.ravel() + W.ravel(), R.sum(0)])
    return float(F), float(np.linalg.norm(g))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pool", required=True, help="directory of shard-*.h5 with a label column")
    ap.add_argument("--vocab", required=True, help="trawl-vocab file (document frequencies)")
    ap.add_argument("--target", required=True, help="class the metrics follow")
    ap.add_argument("--test-split", required=True, help="trawl-simulate's test-split.tsv")
    ap.add_argument("--scores-dir", required=True, help="pool-scores of trawl's all-label model")
    ap.add_argument("--metrics", help="trawl-simulate's metrics.tsv (train_seconds, trawl's own figures)")
    ap.add_argument("--model", help="trawl's model.h5 (checks idf, weights, and features via its scores)")
    ap.add_argument("--trawl-fit-seconds", type=float, default=float("nan"),
                    help="one trawl fit's seconds (trawl-train's 'time train'; metrics.tsv's train_seconds "
                         "includes trawl-simulate's 5 out-of-fold fits)")
    ap.add_argument("--train-only-model", help="the model of that trawl-train run: checked equal to --model")
    ap.add_argument("--buckets", type=int, default=1 << 18)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--max-iter", type=int, default=10000)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--save-probs", help="write sklearn's test probabilities here (TSV)")
    a = ap.parse_args()

    t0 = time.perf_counter()
    idf, n_docs = bucket_idf(a.vocab, a.buckets)
    uid, label, X = read_pool(a.pool, a.buckets, idf)
    t_feat = time.perf_counter() - t0
    order = np.argsort(uid, kind="stable")
    uid, label, X = uid[order], label[order], X[order]
    if np.any(uid[1:] == uid[:-1]):
        sys.exit("duplicate uids in the pool")
    log(f"features: {X.shape[0]} rows x {X.shape[1]}, nnz {X.nnz}, {t_feat:.1f} s")

    test_uid = read_test_split(a.test_split)
    test_pos = lookup(uid, test_uid, "the pool")
    is_test = np.zeros(len(uid), bool)
    is_test[test_pos] = True
    labelled = np.array([s != "" for s in label])
    train = labelled & ~is_test
    classes = sorted(set(label[labelled]))
    if a.target not in classes:
        sys.exit(f"target {a.target!r} not among the classes {classes}")
    Xtr, ytr = X[train], label[train]
    counts = {c: int((ytr == c).sum()) for c in classes}
    log(f"train: {Xtr.shape[0]} rows {counts}; test: {len(test_pos)} rows")

    multi = "multinomial" if len(classes) > 2 else "auto"
    clf = LogisticRegression(C=a.C, class_weight="balanced", solver="lbfgs", max_iter=a.max_iter, tol=a.tol,
                             multi_class=multi)
    t0 = time.perf_counter()
    clf.fit(Xtr.astype(np.float64), ytr)
    t_sk = time.perf_counter() - t0
    n_iter = int(np.max(clf.n_iter_))
    log(f"sklearn fit: {t_sk:.1f} s, {n_iter} iterations")
    assert list(clf.classes_) == classes

    # --- test split -------------------------------------------------------------------------
    Xte, yte = X[test_pos], label[test_pos]
    ti = classes.index(a.target)
    y = (yte == a.target).astype(int)
    p_sk = clf.predict_proba(Xte.astype(np.float64))
    m_sk = target_metrics(y, p_sk[:, ti], p_sk.argmax(1) == ti)

    s_uid, s_probs, s_classes = read_scores(a.scores_dir)
    so = np.argsort(s_uid)
    s_uid, s_probs = s_uid[so], s_probs[so]
    if sorted(s_classes) != classes:
        sys.exit(f"trawl's classes {s_classes} differ from the pool's {classes}")
    p_tr = s_probs[lookup(s_uid, test_uid, a.scores_dir)][:, [s_classes.index(c) for c in classes]]
    m_tr = target_metrics(y, p_tr[:, ti], p_tr.argmax(1) == ti)

    met = read_metrics(a.metrics) if a.metrics else {}
    t_tr = float(met["train_seconds"]) if "train_seconds" in met else float("nan")

    # --- agreement ---------------------------------------------------------------------------
    d = np.abs(p_tr - p_sk)
    corr = float(np.corrcoef(p_tr[:, ti], p_sk[:, ti])[0, 1])
    lt = lambda p: np.log(np.clip(p, 1e-300, 1)) - np.log(np.clip(1 - p, 1e-300, 1))
    corr_logit = float(np.corrcoef(lt(p_tr[:, ti]), lt(p_sk[:, ti]))[0, 1])
    agree_argmax = float(np.mean(p_tr.argmax(1) == p_sk.argmax(1)))

    model_lines = []
    if a.model:
        with h5py.File(a.model, "r") as f:
            m_classes = list(f["classes"].asstr()[:])
            B = int(f.attrs.get("buckets", 0))
            if B != a.buckets:
                sys.exit(f"{a.model}: buckets {B}, expected {a.buckets}")
            m_idf = f["idf"][:]
            W = f["linear.weight"][:].astype(np.float64)
            b = f["linear.bias"][:].astype(np.float64)
            summary = f.attrs.get("training-summary", "")
        same = ""
        if a.train_only_model:
            with h5py.File(a.model, "r") as f, h5py.File(a.train_only_model, "r") as g:
                eq = all(np.array_equal(f[k][:], g[k][:]) for k in ("idf", "linear.weight", "linear.bias"))
            same = "identical" if eq else "DIFFERENT"
        steps = [w[len("steps="):] for w in str(summary).split() if w.startswith("steps=")]
        if steps and not met.get("train_steps"):
            met["train_steps"] = steps[0]
        perm = [m_classes.index(c) for c in classes]
        W, b = W[perm], b[perm]
        # trawl's weights on these features must give trawl's own scores (same features)
        z = Xte.astype(np.float64) @ W.T + b
        z = np.exp(z - z.max(1, keepdims=True))
        p_mine = z / z.sum(1, keepdims=True)
        feat_diff = float(np.abs(p_mine - p_tr).max())
        idf_diff = float(np.abs(m_idf.astype(np.float64) - idf.astype(np.float64)).max())
        if len(classes) == 2:  # one sigmoid vector: trawl row 1 (row 0 = 0), sklearn coef_[0]
            Wt, bt = W[1] - W[0], np.array([b[1] - b[0]])
            Ws, bs = clf.coef_[0], clf.intercept_
        else:  # softmax: compare with centred intercepts (weights are centred at the optimum)
            Wt, bt = W, b - b.mean()
            Ws, bs = clf.coef_, clf.intercept_ - clf.intercept_.mean()
        w_diff = float(np.abs(Wt - Ws).max())
        w_rel = float(np.linalg.norm(Wt - Ws) / np.linalg.norm(Ws))
        b_diff = float(np.abs(bt - bs).max())
        yi = np.array([classes.index(c) for c in ytr])
        Xtr64 = Xtr.astype(np.float64)
        F_tr, g_tr = objective(Xtr64, yi, len(classes), a.C, Wt, bt)
        F_sk, g_sk = objective(Xtr64, yi, len(classes), a.C, Ws.astype(np.float64), np.asarray(bs, np.float64))
        model_lines = [
            f"| idf: trawl's model vs this script, max abs diff | {idf_diff:.3g} |",
            f"| trawl's weights on this script's features vs trawl's scores, max abs prob diff | {feat_diff:.3g} |",
            f"| weights: max abs diff (trawl vs sklearn) | {w_diff:.3g} |",
            f"| weights: relative L2 diff ‖W_trawl − W_sk‖/‖W_sk‖ | {w_rel:.3g} |",
            f"| intercepts: max abs diff | {b_diff:.3g} |",
            f"| objective F at trawl's (f32-stored) / sklearn's solution | {F_tr:.10g} / {F_sk:.10g} (trawl − sklearn = {F_tr - F_sk:.3g}) |",
            f"| ‖∇F‖₂ at trawl's / sklearn's solution | {g_tr:.3g} / {g_sk:.3g} |",
        ]

    if a.save_probs:
        with open(a.save_probs, "w") as fh:
            fh.write("uid\tlabel\t" + "\t".join(f"sklearn_{c}" for c in classes) + "\t"
                     + "\t".join(f"trawl_{c}" for c in classes) + "\n")
            for i in range(len(test_uid)):
                fh.write(f"{test_uid[i]}\t{yte[i]}\t" + "\t".join(f"{v:.9g}" for v in p_sk[i]) + "\t"
                         + "\t".join(f"{v:.9g}" for v in p_tr[i]) + "\n")

    # --- report ------------------------------------------------------------------------------
    ratio = m_tr["best_f1"] / m_sk["best_f1"] if m_sk["best_f1"] > 0 else float("nan")
    out = []
    out.append(f"## trawl logreg vs scikit-learn — pool `{a.pool}`, target `{a.target}`\n")
    out.append(f"Features: {X.shape[0]} items × {a.buckets} buckets (nnz {X.nnz}), idf from `{a.vocab}` "
               f"(N = {n_docs}); classes {classes}; train {Xtr.shape[0]} ({', '.join(f'{c} {n}' for c, n in counts.items())}), "
               f"test {len(test_uid)} ({int(y.sum())} {a.target}).\n")
    out.append("| model | best F1 | AP | ROC-AUC | F1 argmax | fit seconds | iterations |")
    out.append("|---|---|---|---|---|---|---|")
    out.append(f"| sklearn LogisticRegression (lbfgs, C={a.C:g}, balanced{', multinomial' if multi == 'multinomial' else ''}, "
               f"tol={a.tol:g}) | {m_sk['best_f1']:.4f} | {m_sk['ap']:.4f} | {m_sk['auc']:.4f} | {m_sk['f1_argmax']:.4f} "
               f"| {t_sk:.1f} | {n_iter} |")
    out.append(f"| trawl logreg (tokens, tol=1e-6), from its pool scores | {m_tr['best_f1']:.4f} | {m_tr['ap']:.4f} | "
               f"{m_tr['auc']:.4f} | {m_tr['f1_argmax']:.4f} | {a.trawl_fit_seconds:.1f} | {met.get('train_steps', '')} |")
    if met:
        g = lambda k: f"{float(met[k]):.4f}" if k in met else ""
        out.append(f"| trawl, its own metrics.tsv | {g('best_f1')} | {g('average_precision')} | {g('roc_auc')} "
                   f"| {g('f1_argmax')} | | |")
    out.append("")
    out.append(f"**trawl best F1 / sklearn best F1 = {ratio:.4f}** "
               f"({'within' if abs(1 - ratio) <= 0.05 else 'NOT within'} 5%; gap {100 * (ratio - 1):+.2f}%)\n")
    out.append("| agreement on the test split | value |")
    out.append("|---|---|")
    out.append(f"| max abs diff, p({a.target}) | {float(d[:, ti].max()):.3g} |")
    out.append(f"| mean abs diff, p({a.target}) | {float(d[:, ti].mean()):.3g} |")
    out.append(f"| max abs diff, any class prob | {float(d.max()):.3g} |")
    out.append(f"| Pearson r of p({a.target}) / of its logit | {corr:.6f} / {corr_logit:.6f} |")
    out.append(f"| same argmax class | {100 * agree_argmax:.2f}% |")
    out.extend(model_lines)
    out.append("")
    out.append(f"Feature build {t_feat:.1f} s (this script). Fit seconds: sklearn, wall time of `fit` "
               f"(features in memory); trawl, `time train` of a lone trawl-train on the same labels (reads "
               f"excluded{', weights ' + same + ' to the simulate model' if a.model and a.train_only_model else ''}); "
               f"trawl-simulate's train_seconds (1 fit + 5 out-of-fold fits + reads): {t_tr:.1f} s.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
