#!/usr/bin/env python3
"""hnswlib on the same TEXMEX files as `jobfirst-ai eval-ann`, printing the same JSON rows.

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install numpy hnswlib
    /tmp/bench-venv/bin/python scripts/compare_hnswlib.py --base B.fvecs --queries Q.fvecs --gt G.ivecs

Latency is measured per query from Python (one `knn_query` call per query, one thread), so it
includes a few microseconds of interpreter and binding overhead.
"""
import argparse, json, resource, time
import numpy as np
import hnswlib


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    rows = raw.reshape(-1, d + 1)
    return rows[:, 1:].copy().view(dtype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", default="10,16,24,32,48,64,128")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    base = read_vecs(a.base, np.float32)
    qs = read_vecs(a.queries, np.float32)
    gt = read_vecs(a.gt, np.int32)[:, : a.k]
    n, d = base.shape
    idx = hnswlib.Index(space="ip", dim=d)
    t0 = time.perf_counter()
    idx.init_index(max_elements=n, M=a.m, ef_construction=a.ef_construction, random_seed=100)
    idx.set_num_threads(a.threads)
    idx.add_items(base, np.arange(n))
    build_s = time.perf_counter() - t0
    idx.set_num_threads(1)
    for ef in [int(x) for x in a.ef.split(",")]:
        idx.set_ef(ef)
        for q in qs[:100]:
            idx.knn_query(q, k=a.k)
        lat, found = [], 0
        for q, t in zip(qs, gt):
            t0 = time.perf_counter()
            labels, _ = idx.knn_query(q, k=a.k)
            lat.append((time.perf_counter() - t0) * 1e6)
            found += len(set(labels[0].tolist()) & set(t.tolist()))
        lat.sort()
        print(json.dumps({
            "engine": "hnswlib", "ef": ef, "k": a.k, "n": n, "dim": d,
            "recall": found / (len(qs) * a.k),
            "mean_us": sum(lat) / len(lat),
            "p50_us": lat[len(lat) // 2],
            "p99_us": lat[min(len(lat) - 1, round((len(lat) - 1) * 0.99))],
            "build_s": build_s,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }), flush=True)


if __name__ == "__main__":
    main()
