#!/usr/bin/env python3
"""Golden values for src/analysis/csls.ts (CSLS, Conneau et al. 2018), computed with numpy in float64.

Writes test/golden/csls/cases.json: per case the float32-rounded unit inputs (source = translated
rows, target rows), k, and the expected radii r_T (per source row), r_S (per target row), the full
CSLS matrix, each source row's CSLS top-3 targets, and the mutual nearest pairs. A case is redrawn
(next seed) until no top-k or argmax decision is a near-tie (gaps above MARGIN), so the tests can
compare indices exactly. A few target rows are made hubs (pulled towards the source mean) so CSLS
and cosine disagree on some rows.

Run from the repository root: python3 scripts/golden/csls.py
"""
import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / 'test' / 'golden' / 'csls'
MARGIN = 1e-5


def unit_f32(a):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return a.astype('<f4').astype(np.float64)


def gaps_ok(values, k):
    """The (k)th and (k+1)th largest of each row differ by more than MARGIN (k counted from 1)."""
    s = -np.sort(-values, axis=1)
    if s.shape[1] <= k:
        return True
    return bool(np.all(s[:, k - 1] - s[:, k] > MARGIN))


def case(seed, rows_s, rows_t, dim, k, hubs):
    while True:
        rng = np.random.default_rng(seed)
        src = rng.standard_normal((rows_s, dim))
        tgt = rng.standard_normal((rows_t, dim))
        tgt[:hubs] = tgt[:hubs] * 0.3 + src.mean(axis=0) * 3
        s = unit_f32(src)
        t = unit_f32(tgt)
        cos = s @ t.T
        ok = gaps_ok(cos, k) and gaps_ok(cos.T, k)
        r_t = np.sort(cos, axis=1)[:, ::-1][:, :k].mean(axis=1)
        r_s = np.sort(cos.T, axis=1)[:, ::-1][:, :k].mean(axis=1)
        csls = 2 * cos - r_t[:, None] - r_s[None, :]
        ok = ok and all(gaps_ok(csls, m) for m in (1, 2, 3)) and gaps_ok(csls.T, 1)
        if ok:
            break
        seed += 1000
    top3 = np.argsort(-csls, axis=1)[:, :3]
    fwd = csls.argmax(axis=1)
    bwd = csls.argmax(axis=0)
    mutual = [[int(i), int(fwd[i])] for i in range(rows_s) if bwd[fwd[i]] == i]
    cos_top1 = cos.argmax(axis=1)
    return {
        'seed': seed, 'k': k, 'dim': dim,
        'source': s.tolist(), 'target': t.tolist(),
        'rTarget': r_t.tolist(), 'rSource': r_s.tolist(),
        'csls': csls.tolist(), 'top3': top3.tolist(), 'mutual': mutual,
        'mutualMean': float(np.mean([csls[i, j] for i, j in mutual])) if mutual else 0.0,
        'cosineTop1': cos_top1.tolist(),
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {
        'small': case(1, 12, 15, 5, 3, 2),
        'wide': case(2, 40, 30, 16, 5, 3),
    }
    (OUT / 'cases.json').write_text(json.dumps(cases) + '\n')
    for name, c in cases.items():
        differs = sum(1 for i, row in enumerate(c['top3']) if row[0] != c['cosineTop1'][i])
        print(name, 'seed', c['seed'], 'mutual pairs', len(c['mutual']), 'rows where CSLS and cosine top-1 differ', differs)


if __name__ == '__main__':
    main()
