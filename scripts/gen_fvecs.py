#!/usr/bin/env python3
"""Small clustered unit-vector set in TEXMEX format, with the standard library only.

    python3 scripts/gen_fvecs.py --n 20000 --d 128 --out /tmp/jf   # base.fvecs, query.fvecs

Hierarchical Gaussian clusters like scripts/bench/gen_clustered.py (which needs numpy and
faiss and makes the 100k x 384 benchmark set); this one is for quick local runs.
"""
import argparse, math, os, random, struct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--nq", type=int, default=200)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    d = a.d

    def norm(v):
        s = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / s for x in v]

    supers = [norm([rng.gauss(0, 1) for _ in range(d)]) for _ in range(20)]
    centres = []
    for i in range(200):
        s = supers[i % len(supers)]
        centres.append((norm([x + rng.gauss(0, 0.6 / math.sqrt(d)) for x in s]), rng.uniform(0.6, 1.0)))

    def draw():
        c, spread = centres[rng.randrange(len(centres))]
        return norm([x + rng.gauss(0, spread / math.sqrt(d)) for x in c])

    os.makedirs(a.out, exist_ok=True)
    for name, count in (("base.fvecs", a.n), ("query.fvecs", a.nq)):
        with open(os.path.join(a.out, name), "wb") as f:
            for _ in range(count):
                f.write(struct.pack("<i", d))
                f.write(struct.pack(f"<{d}f", *draw()))
    print(f"wrote {a.n} base and {a.nq} query vectors of dimension {d} to {a.out}")


if __name__ == "__main__":
    main()
