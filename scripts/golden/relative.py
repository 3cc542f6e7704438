#!/usr/bin/env python3
"""Float64 numpy references for the engine's relative projection (test/engine/golden.test.ts).

Run from the repository root:  python3 scripts/golden/relative.py
Writes test/golden/relative/index.json plus raw little-endian float32 matrices (*.f32).

The reference is written independently of the ONNX graphs: distances and angles come from
explicit pairwise differences in float64, not from the dot-product expansions the engine uses.
Inputs are rounded to float32 first (the engine's input type); outputs are stored as float32,
which adds at most 6e-8 relative error, far below the test tolerance.

Semantics (the engine's contract, src/engine/types.ts):
  center     subtract the anchors' column mean from inputs and anchors
  zero rows  rows with norm <= 1e-12 (after centring) normalise to 0; their cosine and angular
             entries are 0 (also for zero anchors)
  angular    arccos(cos)/pi in [0, 1], from 2*atan2(|x^ - a^|, |x^ + a^|)
  topK/power per row and block: keep the k largest, sign(v)*|v|^power, zero the rest
  normalize  per row and block, after top-k: l2 (zero rows stay 0) or layernorm
             (v - mean)/sqrt(var + 1e-5), population variance, no affine parameters
"""
import json
import os
import sys

import numpy as np

OUT = os.path.join('test', 'golden', 'relative')
EPS = 1e-12
LN_EPS = 1e-5


def unit_rows(m):
    n = np.linalg.norm(m, axis=1, keepdims=True)
    safe = np.where(n > EPS, n, 1.0)
    return np.where(n > EPS, m / safe, 0.0), (n[:, 0] > EPS)


def pairwise(x, a, fn, chunk=64):
    out = np.empty((x.shape[0], a.shape[0]))
    for s in range(0, x.shape[0], chunk):
        out[s:s + chunk] = fn(x[s:s + chunk, None, :] - a[None, :, :])
    return out


def block(projection, x, a):
    if projection == 'cosine':
        xu, _ = unit_rows(x)
        au, _ = unit_rows(a)
        return xu @ au.T
    if projection == 'dot':
        return x @ a.T
    if projection == 'angular':
        xu, xm = unit_rows(x)
        au, am = unit_rows(a)
        diff = pairwise(xu, au, lambda d: np.linalg.norm(d, axis=2))
        summ = pairwise(xu, -au, lambda d: np.linalg.norm(d, axis=2))
        theta = 2 * np.arctan2(diff, summ) / np.pi
        return np.where(xm[:, None] & am[None, :], theta, 0.0)
    if projection == 'euclidean':
        return pairwise(x, a, lambda d: np.sqrt((d * d).sum(axis=2)))
    if projection == 'l1':
        return pairwise(x, a, lambda d: np.abs(d).sum(axis=2))
    if projection == 'linf':
        return pairwise(x, a, lambda d: np.abs(d).max(axis=2))
    raise ValueError(projection)


def top_k_power(v, k, power, ambiguous):
    if k is None or k >= v.shape[1]:
        kept = v
    else:
        order = np.argsort(-v, axis=1, kind='stable')
        s = np.take_along_axis(v, order, axis=1)
        # Where the k-th and (k+1)-th values are closer than float32 can separate, the engine may
        # keep either: such rows are listed so the test can leave them out.
        gap = s[:, k - 1] - s[:, k]
        near_tie = (gap <= 1e-5 * np.maximum(1.0, np.abs(s[:, k - 1]))) & (np.abs(s[:, k - 1]) > 0)
        ambiguous.update(int(i) for i in np.nonzero(near_tie)[0])
        mask = np.zeros_like(v, dtype=bool)
        np.put_along_axis(mask, order[:, :k], True, axis=1)
        kept = np.where(mask, v, 0.0)
    return np.sign(kept) * np.abs(kept) ** power


def normalize(v, mode):
    if mode == 'l2':
        return unit_rows(v)[0]
    if mode == 'layernorm':
        c = v - v.mean(axis=1, keepdims=True)
        return c / np.sqrt((c * c).mean(axis=1, keepdims=True) + LN_EPS)
    return v


def relative(x, a, projections, center=False, topK=None, power=1.0, normalize_mode='none'):
    x = x.astype(np.float64)
    a = a.astype(np.float64)
    if center:
        mu = a.mean(axis=0, keepdims=True)
        x = x - mu
        a = a - mu
    ambiguous = set()
    blocks = [normalize(top_k_power(block(p, x, a), topK, power, ambiguous), normalize_mode) for p in projections]
    zero_rows = int((np.linalg.norm(x, axis=1) <= EPS).sum())
    return np.concatenate(blocks, axis=1), zero_rows, sorted(ambiguous)


def save(name, m):
    m32 = np.ascontiguousarray(m, dtype='<f4')
    m32.tofile(os.path.join(OUT, name + '.f32'))
    return {'file': name + '.f32', 'rows': int(m.shape[0]), 'cols': int(m.shape[1])}


def check_worked_example(x, a):
    """The hand-checkable numbers printed in docs/methods.md section 17."""
    cos = relative(x[:5], a, ['cosine'])[0]
    assert np.allclose(cos[3], [0.774597, 0.730297, 0.471405], atol=1e-6), cos[3]
    assert np.allclose(cos[4], [-0.2, 0.848528, 0.0], atol=1e-6), cos[4]
    centred = relative(x[:5], a, ['cosine'], center=True)[0]
    assert np.allclose(centred[4], [-0.426401, 0.662541, -0.254824], atol=1e-6), centred[4]
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))
    moved = relative(3.7 * x[:5] @ q, 3.7 * a @ q, ['cosine'])[0]
    assert np.abs(moved - cos).max() < 1e-12


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith('.f32') or f == 'index.json':
            os.remove(os.path.join(OUT, f))

    inputs = {}
    cases = []

    def add_case(name, x_name, a_name, **opts):
        x = np.fromfile(os.path.join(OUT, inputs[x_name]['file']), dtype='<f4').reshape(inputs[x_name]['rows'], -1)
        a = np.fromfile(os.path.join(OUT, inputs[a_name]['file']), dtype='<f4').reshape(inputs[a_name]['rows'], -1)
        y, zero_rows, ambiguous = relative(x, a, opts['projections'], opts.get('center', False), opts.get('topK'),
                                opts.get('power', 1.0), opts.get('normalize', 'none'))
        cases.append({
            'name': name, 'input': x_name, 'anchors': a_name,
            'options': {'projections': opts['projections'], 'center': opts.get('center', False),
                        **({'topK': opts['topK']} if 'topK' in opts else {}),
                        **({'power': opts['power']} if 'power' in opts else {}),
                        'normalize': opts.get('normalize', 'none')},
            'output': save(name, y), 'zeroRows': zero_rows, 'ambiguousRows': ambiguous,
        })

    # (a) docs/methods.md section 17: X, anchors = rows 0..2, plus a zero row, an anchor's antipode
    # and a scaled copy of an anchor (angle exactly 0).
    small_x = np.array([[1, 2, 0], [0, 1, 3], [2, -1, 1], [1, 1, 1], [-1, 0, 2],
                        [0, 0, 0], [-1, -2, 0], [2, 4, 0]], dtype=np.float32)
    small_a = small_x[:3].copy()
    check_worked_example(small_x.astype(np.float64), small_a.astype(np.float64))
    inputs['small_x'] = save('small_x', small_x)
    inputs['small_a'] = save('small_a', small_a)
    for p in ['cosine', 'angular', 'euclidean', 'l1', 'linf', 'dot']:
        add_case(f'small_{p}', 'small_x', 'small_a', projections=[p])
        add_case(f'small_{p}_center', 'small_x', 'small_a', projections=[p], center=True)
    add_case('small_cosine_top2_pow3', 'small_x', 'small_a', projections=['cosine'], topK=2, power=3)
    add_case('small_angular_top2_pow2_l2', 'small_x', 'small_a', projections=['angular'], topK=2, power=2, normalize='l2')
    add_case('small_cosine_layernorm', 'small_x', 'small_a', projections=['cosine'], normalize='layernorm')
    add_case('small_multi_center_layernorm', 'small_x', 'small_a',
             projections=['cosine', 'euclidean', 'l1', 'linf'], center=True, normalize='layernorm')

    # (b) seeded random 500 x 300 against 64 anchors, with rows that stress the edge cases:
    # a zero row, exact copies of anchors (angle 0), near copies, an antipode and a scaled copy.
    rng = np.random.default_rng(20261126)
    d, k, n = 300, 64, 500
    anchors = (rng.standard_normal((k, d)) * 0.1 + 0.02).astype(np.float32)
    x = (rng.standard_normal((n, d)) * 0.1 + 0.02).astype(np.float32)
    x[0] = 0
    x[1:5] = anchors[:4]
    x[5:9] = anchors[4:8] + (rng.standard_normal((4, d)) * 1e-4).astype(np.float32)
    x[9] = -anchors[8]
    x[10] = 3 * anchors[9]
    inputs['random_x'] = save('random_x', x)
    inputs['random_a'] = save('random_a', anchors)
    for p in ['cosine', 'angular', 'dot']:
        add_case(f'random_{p}', 'random_x', 'random_a', projections=[p])
        add_case(f'random_{p}_center', 'random_x', 'random_a', projections=[p], center=True)
    for p in ['euclidean', 'l1', 'linf']:
        add_case(f'random_{p}', 'random_x', 'random_a', projections=[p])
    add_case('random_cosine_top8_pow2', 'random_x', 'random_a', projections=['cosine'], topK=8, power=2)
    add_case('random_cosine_top8_pow3_l2', 'random_x', 'random_a', projections=['cosine'], topK=8, power=3, normalize='l2')
    add_case('random_angular_top16_layernorm', 'random_x', 'random_a', projections=['angular'], topK=16, normalize='layernorm')
    add_case('random_euclidean_layernorm', 'random_x', 'random_a', projections=['euclidean'], normalize='layernorm')
    add_case('random_l1_l2', 'random_x', 'random_a', projections=['l1'], normalize='l2')
    add_case('random_multi_center_layernorm', 'random_x', 'random_a',
             projections=['cosine', 'euclidean', 'l1', 'linf'], center=True, normalize='layernorm')
    add_case('random_multi_top8_sqrt_l2', 'random_x', 'random_a',
             projections=['cosine', 'angular', 'dot'], topK=8, power=0.5, normalize='l2')

    with open(os.path.join(OUT, 'index.json'), 'w') as f:
        json.dump({'generator': 'scripts/golden/relative.py', 'dtype': 'float32-le',
                   'inputs': inputs, 'cases': cases}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f'{len(cases)} cases, {total / 1e6:.2f} MB in {OUT}', file=sys.stderr)


if __name__ == '__main__':
    main()
