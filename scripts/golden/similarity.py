#!/usr/bin/env python3
"""Golden values for src/analysis/similarity.ts, computed with numpy in float64.

Writes test/golden/similarity/: raw little-endian float32 inputs (*.f32, row-major) and JSON files
with the expected numbers. Random inputs are rounded to float32 first and every reference value is
computed from those float32 values, so the TypeScript side sees exactly the same inputs.

kNN-based results are compared exactly in the tests, so each random case is drawn again (next
seed) until no decision it depends on is a near-tie: every similarity gap that decides a top-k
set or a rank must exceed MARGIN, far above float32 rounding of cosines (~1e-7).

Run from the repository root: python3 scripts/golden/similarity.py
"""
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / 'test' / 'golden' / 'similarity'
MARGIN = 1e-5


def as_f32(a):
    return np.ascontiguousarray(a, dtype='<f4')


def write_f32(name, a):
    (OUT / name).write_bytes(as_f32(a).tobytes())


def write_json(name, obj):
    # One key per line, each value on one line: small diffs, compact integer lists.
    lines = [f'  {json.dumps(key)}: {json.dumps(value)}' for key, value in obj.items()]
    (OUT / name).write_text('{\n' + ',\n'.join(lines) + '\n}\n')


def cka_feature(x, y):
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    return np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))


def cka_gram(x, y):
    """HSIC form with explicit centring matrices (docs/methods.md §13.1), O(N^3): a check only."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    kc = h @ (x @ x.T) @ h
    lc = h @ (y @ y.T) @ h
    return np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc))


def normalise(m):
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


def ranked(queries, index, exclude_self):
    """Cosine similarities and, per row, index columns from most to least similar (ties: lower index)."""
    sims = normalise(queries) @ normalise(index).T
    if exclude_self:
        np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind='stable')
    return sims, order


def min_gap(sims, order, upto):
    """Smallest gap between consecutive similarities among each row's first upto + 1 ranked columns."""
    top = np.take_along_axis(sims, order[:, :upto + 1], axis=1)
    return float(np.min(top[:, :-1] - top[:, 1:]))


def boundary_gap(sims, order, k):
    """Smallest gap between each row's k-th and (k+1)-th similarity: what decides its top-k set."""
    kth = np.take_along_axis(sims, order[:, k - 1:k], axis=1)
    after = np.take_along_axis(sims, order[:, k:k + 1], axis=1)
    return float(np.min(kth - after))


def intersections(a, b):
    return [len(set(ra.tolist()) & set(rb.tolist())) for ra, rb in zip(a, b)]


def jaccard_mean(shared, k):
    return float(np.mean([s / (2 * k - s) for s in shared]))


def toy_cka():
    x = np.array([[1, 2, 0], [0, 1, 3], [2, -1, 1], [1, 1, 1], [-1, 0, 2]], dtype=np.float64)
    z = np.array([[0.5, 1], [2, 0], [1, 1], [0, 3], [1, -1]], dtype=np.float64)
    feature = cka_feature(x, z)
    gram = cka_gram(x, z)
    assert abs(feature - gram) < 1e-12
    assert round(feature, 6) == 0.443016
    write_json('cka-toy.json', {'x': x.tolist(), 'z': z.tolist(), 'cka': feature, 'ckaGram': gram})
    return feature


def random_cka(seed=20240601):
    rng = np.random.default_rng(seed)
    n, d1, d2 = 200, 30, 20
    x = as_f32(rng.standard_normal((n, d1)))
    w = rng.standard_normal((d1, d2)) / np.sqrt(d1)
    y = as_f32(np.tanh(x.astype(np.float64) @ w) + 0.5 * rng.standard_normal((n, d2)))
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    feature, gram = cka_feature(x64, y64), cka_gram(x64, y64)
    assert abs(feature - gram) < 1e-12
    write_f32('cka-x.f32', x)
    write_f32('cka-y.f32', y)
    write_json('cka-random.json', {
        'seed': seed, 'rows': n, 'xCols': d1, 'yCols': d2,
        'x': 'cka-x.f32', 'y': 'cka-y.f32',
        'cka': feature, 'ckaGram': gram
    })
    return feature, gram


def knn_case(first_seed=7000):
    n, d1, d2, k = 150, 24, 16, 5
    for seed in range(first_seed, first_seed + 1000):
        rng = np.random.default_rng(seed)
        x = as_f32(rng.standard_normal((n, d1)))
        w = rng.standard_normal((d1, d2)) / np.sqrt(d1)
        y = as_f32(x.astype(np.float64) @ w + 0.3 * rng.standard_normal((n, d2)))
        sx, ox = ranked(x.astype(np.float64), x.astype(np.float64), True)
        sy, oy = ranked(y.astype(np.float64), y.astype(np.float64), True)
        gap = min(boundary_gap(sx, ox, k), boundary_gap(sy, oy, k))
        if gap > MARGIN:
            break
    else:
        raise RuntimeError('no kNN case without near-ties')
    shared = intersections(ox[:, :k], oy[:, :k])
    write_f32('knn-x.f32', x)
    write_f32('knn-y.f32', y)
    write_json('knn.json', {
        'seed': seed, 'rows': n, 'xCols': d1, 'yCols': d2, 'k': k,
        'x': 'knn-x.f32', 'y': 'knn-y.f32',
        'minBoundaryGap': gap,
        'intersections': shared,
        'jaccard': jaccard_mean(shared, k)
    })
    return seed, jaccard_mean(shared, k), gap


def retrieval_case(first_seed=9000):
    n, d, k = 150, 16, 5
    for seed in range(first_seed, first_seed + 1000):
        rng = np.random.default_rng(seed)
        target = as_f32(rng.standard_normal((n, d)))
        translated = as_f32(target.astype(np.float64) + 0.8 * rng.standard_normal((n, d)))
        t64, y64 = translated.astype(np.float64), target.astype(np.float64)
        st, ot = ranked(t64, y64, False)
        sy, oy = ranked(y64, y64, False)
        gap = min(min_gap(st, ot, k), boundary_gap(sy, oy, k))
        if gap > MARGIN:
            break
    else:
        raise RuntimeError('no retrieval case without near-ties')
    ranks = []
    for i in range(n):
        hits = np.nonzero(ot[i, :k] == i)[0]
        ranks.append(int(hits[0]) + 1 if hits.size else 0)
    shared = intersections(ot[:, :k], oy[:, :k])
    cosines = np.sum(normalise(t64) * normalise(y64), axis=1)
    expected = {
        'top1': sum(r == 1 for r in ranks) / n,
        'topK': sum(r > 0 for r in ranks) / n,
        'mrr': float(np.mean([1 / r if r else 0 for r in ranks])),
        'jaccard': jaccard_mean(shared, k),
        'meanCosine': float(np.mean(cosines)),
        'mse': float(np.mean((t64 - y64) ** 2))
    }
    write_f32('retrieval-translated.f32', translated)
    write_f32('retrieval-target.f32', target)
    write_json('retrieval.json', {
        'seed': seed, 'rows': n, 'cols': d, 'k': k,
        'translated': 'retrieval-translated.f32', 'target': 'retrieval-target.f32',
        'minDecisionGap': gap,
        'ranks': ranks,
        'jaccardIntersections': shared,
        'expected': expected
    })
    return seed, expected, gap


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    print('toy CKA', toy_cka())
    print('random CKA feature / gram', random_cka())
    print('kNN seed, jaccard, gap', knn_case())
    print('retrieval seed, scores, gap', retrieval_case())


if __name__ == '__main__':
    main()
