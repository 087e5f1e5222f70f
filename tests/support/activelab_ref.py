#!/usr/bin/python3
# Independent numpy reference of /work/shared/reference/activelab.md (majority vote, temperature
# fit, CROWDLAB best_quality, annotator stats, ActiveLab scores), for tests/unit/test_activelab.cpp.
# Written from the spec on the dense N x M matrix with NaN for "not labelled" (the reference's
# layout), not from the C++ code. Sums whose exact value decides a tie are taken left to right
# (python's sum) so that ties resolve as in any sequential implementation.
# The temperature fit (loss, fit_T, scale) follows what cleanlab 2.9's find_best_temp_scaler and
# temp_scale_pred_probs compute (cleanlab/internal/multiannotator_utils.py), written anew here,
# including the label-count placement of its value_counts helper on float labels (label_counts).
#
# usage: activelab_ref.py DIR   reads DIR/meta.txt ("N M K Nu seed"), L.i32 (N*M, -1 missing),
#        P.f64 (N*K), Pu.f64 (Nu*K), uid.u64 (N); writes DIR/out_<name>.f64 files.
import sys
import numpy as np

MASK = (1 << 64) - 1
EPS0 = 1e-6
SMALL = 1e-30


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def key2(a, b):
    return mix64(mix64(a) ^ ((b + 0x632BE59BD9B4E019 + ((a << 6) & MASK) + (a >> 2)) & MASK))


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def majority_vote(L, P, uid, seed, K):
    N, M = L.shape
    counts = np.zeros((N, K), dtype=np.int64)
    for i in range(N):
        for j in range(M):
            if not np.isnan(L[i, j]):
                counts[i, int(L[i, j])] += 1
    freq = counts.sum(axis=0)
    label = np.full(N, -1)
    how = np.zeros(N, dtype=np.int64)
    tied = {}
    nontied = []
    for i in range(N):
        modes = [k for k in range(K) if counts[i, k] == counts[i].max()]
        if len(modes) == 1:
            label[i] = modes[0]
            nontied.append(i)
        else:
            tied[i] = modes

    def narrow(i, vals, step):
        best = max(vals)
        keep = [k for k, v in zip(tied[i], vals) if v == best]
        if not keep:
            return
        tied[i] = keep
        if len(keep) == 1:
            label[i] = keep[0]
            how[i] = step
            del tied[i]

    if P is not None:
        for i in list(tied):
            narrow(i, [P[i, k] for k in tied[i]], 1)
    for i in list(tied):
        narrow(i, [-freq[k] for k in tied[i]], 2)
    if tied:
        agree = [np.nan] * M
        for j in range(M):
            items = [i for i in nontied if not np.isnan(L[i, j])]
            if items:
                agree[j] = mean(1.0 if int(L[i, j]) == label[i] else 0.0 for i in items)
        known = [a for a in agree if not np.isnan(a)]
        if known:
            m = mean(known)
            agree = [m if np.isnan(a) else a for a in agree]
            for i in list(tied):
                vals = [mean(agree[j] for j in range(M) if not np.isnan(L[i, j]) and int(L[i, j]) == k) for k in tied[i]]
                narrow(i, vals, 3)
    for i in list(tied):
        t = tied[i]
        label[i] = t[key2(seed, int(uid[i])) % len(t)]
        how[i] = 4
    return label, how


def label_counts(labels, K):
    """The empirical label vector of one item as cleanlab 2.9 builds it in its temperature fit.

    cleanlab passes the item's labels as floats (NaN marks "not labelled") to its value_counts
    helper, which places the counts of the classes present, in ascending class order, in slots
    0, 1, ... whenever fewer than K classes are present: float labels are not used as indices.
    So labels {1, 1} (K = 2) count as [2, 0], labels {0, 2} (K = 3) as [1, 1, 0]; only an item
    whose labels cover every class gets its counts at the classes' own positions.
    """
    present, counts = np.unique(labels, return_counts=True)
    out = np.zeros(K)
    out[: len(present)] = counts
    return out


def softmax_unshifted(x, T):
    # exp(x / T) normalised per row, without subtracting the row maximum (as cleanlab's softmax
    # with shift=False).
    e = np.exp(x / T)
    return e / np.sum(e, axis=1, keepdims=True)


def label_vectors(L, K):
    # v_i = label_counts / n_i for every item (single-labelled ones too)
    V = np.zeros((L.shape[0], K))
    for i in range(L.shape[0]):
        labs = L[i][~np.isnan(L[i])]
        V[i] = label_counts(labs, K) / len(labs)
    return V


def loss_v(V, P, T, K):
    # mean over all items of -sum_k v[k] log(clip(q[k])) / log K, q = softmax(log P / T)
    with np.errstate(divide="ignore"):
        lp = np.log(np.where(P > 0, P, 1.0))
    lp = np.where(P > 0, lp, -np.inf)
    q = np.clip(softmax_unshifted(lp, T), SMALL, None)
    return np.mean(-np.sum(V * np.log(q), axis=1) / np.log(K))


def loss(L, P, T, K):
    return loss_v(label_vectors(L, K), P, T, K)


GRID = [0.1, 0.2, 0.5, 0.8, 1, 2, 3, 5, 8]


def fine_grid(b):
    # 4 points from GRID[b-1] up to (not including) GRID[b], then 5 from GRID[b] to GRID[b+1]
    # inclusive; at b = 0 only the right part, at the last index only the left part (so 8 itself
    # is not a candidate of the fine search).
    fine = []
    if b > 0:
        fine += list(np.linspace(GRID[b - 1], GRID[b], 4, endpoint=False))
    if b < len(GRID) - 1:
        fine += list(np.linspace(GRID[b], GRID[b + 1], 5, endpoint=True))
    return fine


def fit_T(L, P, K, trace=None):
    V = label_vectors(L, K)
    coarse = [loss_v(V, P, t, K) for t in GRID]
    b = int(np.argmin(coarse))  # first minimum
    fine = fine_grid(b)
    fl = [loss_v(V, P, t, K) for t in fine]
    if trace is not None:
        trace.extend(list(zip(GRID + fine, coarse + fl)))
    return fine[int(np.argmin(fl))]


def scale(P, T):
    # clip at SMALL, renormalise, softmax(log P / T) without shift, renormalise
    c = np.clip(P, SMALL, None)
    c = c / np.sum(c, axis=1, keepdims=True)
    s = softmax_unshifted(np.log(c), T)
    return s / np.sum(s, axis=1, keepdims=True)


def agree_annotators(L):
    N, M = L.shape
    n = (~np.isnan(L)).sum(axis=1)
    A = np.full(M, np.nan)
    for j in range(M):
        num = den = 0
        for i in range(N):
            if np.isnan(L[i, j]) or n[i] < 2:
                continue
            same = sum(1 for jj in range(M) if not np.isnan(L[i, jj]) and L[i, jj] == L[i, j])
            num += same - 1
            den += n[i] - 1
        if den > 0:
            A[j] = num / den
    if np.isnan(A).any():
        A[np.isnan(A)] = mean(A[~np.isnan(A)])
    return A


def stats(L, P, y, A, K):
    N, M = L.shape
    lab = ~np.isnan(L)
    n = lab.sum(axis=1)
    multi = n != 1
    a = np.array([np.mean(L[i][lab[i]] == y[i]) for i in range(N)])
    p_agree = mean(a[multi])
    p_other = (1 - p_agree) / (K - 1)
    ym = y[multi]
    mlc = max(EPS0, np.mean(ym != np.argmax(np.bincount(ym, minlength=K))))
    eps_m = np.mean(np.argmax(P[multi], axis=1) != ym)
    w_m = max(EPS0, 1 - eps_m / mlc) * np.sqrt(np.mean(n))
    w = np.maximum(EPS0, 1 - (1 - A) / mlc)
    post = np.zeros((N, K))
    for i in range(N):
        den = w_m
        for j in range(M):
            if lab[i, j]:
                den += w[j]
        for k in range(K):
            num = w_m * P[i, k]
            for j in range(M):
                if lab[i, j]:
                    num += w[j] * (p_agree if int(L[i, j]) == k else p_other)
            post[i, k] = num / den
    q = post[np.arange(N), y]
    return dict(a=a, post=post, q=q, w_m=w_m, w=w, p_agree=p_agree, mlc=mlc, eps_m=eps_m)


def crowdlab(L, P, uid, seed, K):
    N, M = L.shape
    mv, _ = majority_vote(L, P, uid, seed, K)
    A = agree_annotators(L)
    s = stats(L, P, mv, A, K)
    y = np.array([int(np.argmax(r)) if np.sum(r == r.max()) == 1 else mv[i] for i, r in enumerate(s["post"])])
    s = stats(L, P, y, A, K)
    lab = ~np.isnan(L)
    n = lab.sum(axis=1)
    detailed = np.full((N, M), np.nan)
    for i in range(N):
        for j in range(M):
            if lab[i, j]:
                detailed[i, j] = s["post"][i, int(L[i, j])]
    w = s["w_m"] / (s["w_m"] + np.sum(s["w"]) * (np.mean(n) / M))
    quality = np.zeros(M)
    agreement = np.zeros(M)
    worst = np.zeros(M)
    nlab = lab.sum(axis=0)
    for j in range(M):
        items = np.where(lab[:, j])[0]
        lqs = np.mean(detailed[items, j])
        mi = [i for i in items if n[i] > 1]
        am = np.mean([L[i, j] == y[i] for i in mi]) if mi else np.nan
        quality[j] = w * lqs + (1 - w) * am
        agreement[j] = np.mean(L[items, j] == y[items])
        classes = sorted(set(int(L[i, j]) for i in items))
        acc = {k: np.mean([y[i] == k for i in items if int(L[i, j]) == k]) for k in classes}
        cand = [k for k in classes if acc[k] == min(acc.values())]
        if len(cand) > 1:
            cnt = {k: sum(1 for i in items if int(L[i, j]) == k) for k in cand}
            cand = [k for k in cand if cnt[k] == max(cnt.values())]
        if len(cand) > 1:
            mq = {k: mean(s["q"][i] for i in items if int(L[i, j]) == k) for k in cand}
            cand = [k for k in cand if mq[k] == max(mq.values())]
        worst[j] = cand[0]
    qkey = np.where(np.isnan(quality), np.inf, quality)
    nan_rank = np.isnan(quality).astype(float)
    order = np.lexsort((np.arange(M), agreement, qkey, nan_rank))
    return dict(mv=mv, y=y, q=s["q"], a=s["a"], n=n, post=s["post"], detailed=detailed, quality=quality,
                agreement=agreement, worst=worst, nlab=nlab, order=order, w_m=s["w_m"], w=s["w"],
                p_agree=s["p_agree"], mlc=s["mlc"], eps_m=s["eps_m"])


def activelab(L, P, Pu, uid, seed, K):
    out = {}
    T = 1.0
    w_m = 1.0
    w_bar = 1.0
    scaled = False
    if L is not None:
        lab = ~np.isnan(L)
        n = lab.sum(axis=1)
        N = L.shape[0]
        if (n == 1).all():
            q = np.array([P[i, int(L[i][lab[i]][0])] for i in range(N)])
            wsum = n * 1.0
        else:
            T = fit_T(L, P, K)
            scaled = True
            c = crowdlab(L, scale(P, T), uid, seed, K)
            q = c["q"]
            w_m = c["w_m"]
            w_bar = np.mean(c["w"])
            # CROWDLAB on P scaled with the fitted T (what the scores are built from)
            out["al_c_y"] = c["y"]
            out["al_c_q"] = c["q"]
            out["al_c_post"] = c["post"]
            out["al_c_quality"] = c["quality"]
            out["al_c_weights"] = [c["w_m"], c["p_agree"], c["mlc"], c["eps_m"]] + list(c["w"])
            wsum = np.array([sum(c["w"][j] for j in range(L.shape[1]) if lab[i, j]) for i in range(N)])
        out["s_lab"] = ((wsum + w_m) * q + w_bar / K) / (wsum + w_m + w_bar)
    if Pu is not None:
        U = scale(Pu, T) if scaled else Pu
        out["s_unlab"] = (w_m * U.max(axis=1) + w_bar / K) / (w_m + w_bar)
    out["al_T"] = np.array([T])
    return out


def main():
    d = sys.argv[1]
    N, M, K, Nu, seed = [int(x) for x in open(d + "/meta.txt").read().split()]
    uid = np.fromfile(d + "/uid.u64", dtype=np.uint64)
    L = P = Pu = None
    if N > 0:
        Li = np.fromfile(d + "/L.i32", dtype=np.int32).reshape(N, M)
        L = np.where(Li < 0, np.nan, Li.astype(float))
        P = np.fromfile(d + "/P.f64").reshape(N, K)
    if Nu > 0:
        Pu = np.fromfile(d + "/Pu.f64").reshape(Nu, K)

    def w(name, v):
        np.asarray(v, dtype=np.float64).ravel().tofile(d + "/out_" + name + ".f64")

    if L is not None:
        mv0, how0 = majority_vote(L, None, uid, seed, K)
        mv1, how1 = majority_vote(L, P, uid, seed, K)
        w("mv0", mv0); w("how0", how0); w("mv1", mv1); w("how1", how1)
        trace = []
        w("T", [fit_T(L, P, K, trace)])
        w("T_trace", [x for pair in trace for x in pair])  # (T, loss(T)) of every candidate, in order
        w("loss", [loss(L, P, t, K) for t in (0.1, 0.7, 1.0, 3.0)])
        Ps = scale(P, 1.7)
        w("scaled", Ps)
        if ((~np.isnan(L)).sum(axis=1) > 1).any():
            c = crowdlab(L, Ps, uid, seed, K)
            for k in ("mv", "y", "q", "a", "n", "post", "detailed", "quality", "agreement", "worst", "nlab", "order"):
                w("c_" + k, c[k])
            w("c_weights", [c["w_m"], c["p_agree"], c["mlc"], c["eps_m"]] + list(c["w"]))
    o = activelab(L, P, Pu, uid, seed, K)
    for k, v in o.items():
        w(k, v)


main()
