#!/usr/bin/env python3
"""numpy float64 baseline for bench/quality.ts, section "relative".

Usage: python3 bench/numpy_quality.py relative SPEC.json

SPEC.json: {"dir": words dir, "spaces": [{"name", "file", "dim"}], "anchors": [[row indices], ...]}
(one anchor list per seed, chosen by bench/quality.ts so both sides use the same anchors).

Protocol (methods.md section 2.4, top-1 as in section 10.6): for every seed, the anchors are the
listed words and every other word is held out. Each space's held-out words become relative vectors
R = normalize(X) @ normalize(A).T (cosine, float64); with centring, the anchors' mean is subtracted
from X and A first. For every ordered pair (S, T), word w counts as retrieved when the T vector
most similar (cosine) to w's S vector is w's own, among all held-out words. Prints one JSON line.
"""
import json
import sys
import time

import numpy as np

BLOCK = 1024


def normalize(m):
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(n, 1e-12)


def relative(x, a, center):
    if center:
        mu = a.mean(axis=0)
        x = x - mu
        a = a - mu
    return normalize(x) @ normalize(a).T


def top1(queries, gallery):
    q = normalize(queries)
    g = normalize(gallery)
    hits = 0
    for start in range(0, q.shape[0], BLOCK):
        end = min(start + BLOCK, q.shape[0])
        best = np.argmax(q[start:end] @ g.T, axis=1)
        hits += int(np.count_nonzero(best == np.arange(start, end)))
    return hits / q.shape[0]


def relative_section(spec):
    spaces = {}
    for s in spec['spaces']:
        m = np.fromfile(f"{spec['dir']}/{s['file']}", dtype='<f4').reshape(-1, s['dim'])
        spaces[s['name']] = m.astype(np.float64)
    names = [s['name'] for s in spec['spaces']]
    rows = next(iter(spaces.values())).shape[0]
    results = []
    t0 = time.perf_counter()
    for anchors in spec['anchors']:
        anchors = np.asarray(anchors, dtype=np.int64)
        held = np.setdiff1d(np.arange(rows), anchors)  # ascending, like the bench
        per_seed = {}
        for variant, center in (('plain', False), ('centred', True)):
            rel = {n: relative(spaces[n][held], spaces[n][anchors], center) for n in names}
            for s in names:
                for t in names:
                    if s != t:
                        per_seed.setdefault(f'{s}->{t}', {})[variant] = top1(rel[s], rel[t])
        results.append(per_seed)
    return {'results': results, 'seconds': time.perf_counter() - t0, 'numpy': np.__version__, 'heldOut': int(rows - len(spec['anchors'][0]))}


def main():
    section, spec_path = sys.argv[1:3]
    with open(spec_path) as f:
        spec = json.load(f)
    if section != 'relative':
        raise SystemExit(f'unknown section {section!r}')
    print(json.dumps(relative_section(spec)))


if __name__ == '__main__':
    main()
