#!/usr/bin/env python3
"""numpy float64 baselines for bench/quality.ts, sections "relative" and "translators".

Usage: python3 bench/numpy_quality.py relative|translators SPEC.json

SPEC.json: {"dir": words dir, "spaces": [{"name", "file", "dim"}], "anchors": [[row indices], ...]}
(one anchor list per seed, chosen by bench/quality.ts so both sides use the same anchors).

Protocol (docs/methods.md section 16, top-1 as in section 12): for every seed, the anchors are the
listed words and every other word is held out. Each space's held-out words become relative vectors
R = normalize(X) @ normalize(A).T (cosine, float64); with centring, the anchors' mean is subtracted
from X and A first. For every ordered pair (S, T), word w counts as retrieved when the T vector
most similar (cosine) to w's S vector is w's own, among all held-out words. Prints one JSON line.

Section "translators" (the issue-4 protocol, the reference it quotes): for every seed and ordered
pair, a map is fitted on the anchors and each held-out S vector, translated, retrieves among all
held-out T vectors by cosine in the centred target space: the target anchors' mean is subtracted
from the translations and the gallery alike (the space the service scores in, src/fit/score.ts;
in the raw space a common direction of the target model dominates every cosine). Two maps, both
in float64:
  procrustes_l2  centre on the anchors' means, L2-normalise rows, orthogonal R = U Vt from the SVD
                 of Xt Y (the smaller side zero-padded, then cropped), outputs rescaled to the
                 target anchors' mean centred norm and the target mean added back;
  lstsq          plain least squares W = argmin ||X W - Y|| on the raw vectors (np.linalg.lstsq).
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


def load_spaces(spec):
    """Every space of the spec as float64, their names in order, and the word count."""
    spaces = {}
    for s in spec['spaces']:
        m = np.fromfile(f"{spec['dir']}/{s['file']}", dtype='<f4').reshape(-1, s['dim'])
        spaces[s['name']] = m.astype(np.float64)
    return spaces, [s['name'] for s in spec['spaces']], next(iter(spaces.values())).shape[0]


def relative_section(spec):
    spaces, names, rows = load_spaces(spec)
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


def procrustes_l2(xa, ya):
    mx, my = xa.mean(axis=0), ya.mean(axis=0)
    xs, ys = normalize(xa - mx), normalize(ya - my)
    out_norm = np.linalg.norm(ya - my, axis=1).mean()
    d = max(xs.shape[1], ys.shape[1])
    xp = np.zeros((xs.shape[0], d)); xp[:, :xs.shape[1]] = xs
    yp = np.zeros((ys.shape[0], d)); yp[:, :ys.shape[1]] = ys
    u, _, vt = np.linalg.svd(xp.T @ yp)
    r = (u @ vt)[:xs.shape[1], :ys.shape[1]]
    return lambda x: normalize(normalize(x - mx) @ r) * out_norm + my


def lstsq(xa, ya):
    w = np.linalg.lstsq(xa, ya, rcond=None)[0]
    return lambda x: x @ w


def translators_section(spec):
    spaces, names, rows = load_spaces(spec)
    results = []
    t0 = time.perf_counter()
    for anchors in spec['anchors']:
        anchors = np.asarray(anchors, dtype=np.int64)
        held = np.setdiff1d(np.arange(rows), anchors)
        per_seed = {}
        for s in names:
            for t in names:
                if s == t:
                    continue
                xa, ya = spaces[s][anchors], spaces[t][anchors]
                my = ya.mean(axis=0)
                per_seed[f'{s}->{t}'] = {
                    name: top1(fit(xa, ya)(spaces[s][held]) - my, spaces[t][held] - my)
                    for name, fit in (('procrustes_l2', procrustes_l2), ('lstsq', lstsq))
                }
        results.append(per_seed)
    return {'results': results, 'seconds': time.perf_counter() - t0, 'numpy': np.__version__, 'heldOut': int(rows - len(spec['anchors'][0]))}


def main():
    section, spec_path = sys.argv[1:3]
    with open(spec_path) as f:
        spec = json.load(f)
    sections = {'relative': relative_section, 'translators': translators_section}
    if section not in sections:
        raise SystemExit(f'unknown section {section!r}; sections: {", ".join(sections)}')
    print(json.dumps(sections[section](spec)))


if __name__ == '__main__':
    main()
