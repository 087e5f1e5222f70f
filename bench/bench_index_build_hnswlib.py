#!/usr/bin/python3
"""Reference for bench_index_build: Debian's python3-hnswlib (0.6.2) building the same index
(cosine space, same M, ef_construction, random_seed 42) on the same vectors, which
bench_index_build writes with --write-npy PREFIX. Reports items/s, items/s per core and
items per CPU second (the per-core figure that does not depend on other load on shared cores)
and recall@10 at ef 100 against exact search, in the same columns as bench_index_build.

Run with Debian's interpreter (the python3 on PATH may lack hnswlib and numpy):
  build/bin/bench_index_build --n 100000 --dim 256 --write-npy /tmp/bench
  /usr/bin/python3 bench/bench_index_build_hnswlib.py --data /tmp/bench.data.npy \
      --queries /tmp/bench.queries.npy --configs 64:200,16:100 --thread-counts 1,2
"""
import argparse
import sys
import time

import hnswlib
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="PREFIX.data.npy from bench_index_build --write-npy")
    ap.add_argument("--queries", help="PREFIX.queries.npy (recall@10; optional)")
    ap.add_argument("--configs", default="64:200,16:100", help="M:ef_construction pairs")
    ap.add_argument("--thread-counts", default="1,2", help="num_threads values for add_items")
    a = ap.parse_args()

    x = np.load(a.data)
    if x.dtype != np.float32 or x.ndim != 2:
        sys.exit(f"{a.data}: expected a 2-D float32 array, got {x.dtype} {x.shape}")
    n, dim = x.shape
    ids = np.arange(n, dtype=np.uint64)
    truth = None
    if a.queries:
        q = np.load(a.queries)
        # Exact top 10 by inner product (the vectors are unit length), in blocks.
        truth = []
        for b in range(0, len(q), 64):
            s = q[b:b + 64] @ x.T
            top = np.argpartition(-s, 10, axis=1)[:, :10]
            truth.extend(set(r) for r in top.tolist())
    print(f"# {n} vectors, dim {dim}, hnswlib {getattr(hnswlib, '__version__', '0.6.x')} (Python binding)")
    print(f"{'impl':<6} {'M':<6} {'efC':<8} {'threads':>8} {'seconds':>9} {'items/s':>10} {'items/s/core':>12} "
          f"{'items/cpu_s':>12} {'rss_MiB':>9} {'est_MiB':>9} {'recall@10':>10}")
    for cfg in a.configs.split(","):
        m, efc = (int(v) for v in cfg.split(":"))
        for threads in (int(t) for t in a.thread_counts.split(",")):
            p = hnswlib.Index(space="cosine", dim=dim)
            p.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=42)
            t0, c0 = time.perf_counter(), time.process_time()
            p.add_items(x, ids, num_threads=threads)
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            rec = float("nan")
            if truth is not None:
                p.set_ef(100)
                labels, _ = p.knn_query(q, k=10, num_threads=threads)
                rec = sum(len(truth[i] & set(labels[i].tolist())) for i in range(len(q))) / (10.0 * len(q))
            print(f"{'python':<6} {m:<6} {efc:<8} {threads:>8} {secs:>9.2f} {n / secs:>10.0f} "
                  f"{n / secs / threads:>12.0f} {n / cpu:>12.0f} {'-':>9} {'-':>9} {rec:>10.4f}", flush=True)
            del p


if __name__ == "__main__":
    main()
