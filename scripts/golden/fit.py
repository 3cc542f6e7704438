#!/usr/bin/env python3
"""Float64 numpy references for the translator fits (test/fit/golden.test.ts).

Run from the repository root:  python3 scripts/golden/fit.py
Writes test/golden/fit/index.json plus raw little-endian float32 matrices (*.f32).

Written independently of src/fit: the Procrustes reference is an SVD (not a polar iteration),
least squares is np.linalg.lstsq (SVD based), and the padded square Procrustes of docs/methods.md §5.1 is
computed too and checked against the rectangular polar factor the service uses.

Every case: parallel anchors X (k x dx), Y (k x dy), held-out source rows H; for every method and
scaling, the translated held-out rows and the rank. Inputs are rounded to float32 first (the
service's input type); outputs are stored as float32 (6e-8 relative, far below the tolerances).

Definitions (the service's contract, src/fit):
  scaling   standard: (a - mean) / std, std ddof=1, std < 10*eps -> 1; center: a - mean;
            l2: centre, then rows / max(|row|, 1e-12), output renormalised to the target's mean
            centred norm; none: identity. Statistics over the anchors.
  procrustes      W = U_r V_r^T of svd(Xs^T Ys), r = #(s > 1e-8 s_0)
  linear          W = lstsq(Xs, Ys, rcond=1e-6)
  affine          W = lstsq(Xs - mean, Ys - mean, rcond=1e-6), b = mean(Ys) - mean(Xs) W
  ridge           W = (Xs^T Xs + lam I)^-1 Xs^T Ys, lam = ridge * |Xs|_F^2 / dx
  inverse-relative  rows of Xs, Ys normalised (any scaling), W = Ax^T Ay (Ay^T Ay + lam I)^-1,
            lam = ridge * |Ay|_F^2 / dy (ridge 0: Ax^T pinv(Ay^T, rcond=1e-6)); output renormalised
"""
import json
import os

import numpy as np

OUT = os.path.join('test', 'golden', 'fit')
EPS = 1e-12
STD_FLOOR = 10 * np.finfo(np.float64).eps
RANK_TOL = 1e-8
LSTSQ_RCOND = 1e-6
METHODS = ['procrustes', 'linear', 'affine', 'ridge', 'inverse-relative']
SCALINGS = ['standard', 'center', 'l2', 'none']
RIDGE = 0.01


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def scale(a, scaling, normalize):
    mean = a.mean(axis=0) if scaling != 'none' else np.zeros(a.shape[1])
    std = np.ones(a.shape[1])
    if scaling == 'standard':
        std = a.std(axis=0, ddof=1)
        std = np.where(std < STD_FLOOR, 1.0, std)
    s = (a - mean) / std
    norms = np.linalg.norm(s, axis=1)
    stats = {'mean': mean, 'std': std, 'normalize': normalize, 'mean_norm': norms.mean()}
    if normalize:
        s = s / np.maximum(norms, EPS)[:, None]
    return s, stats


def rank_of(m, rcond):
    s = np.linalg.svd(m, compute_uv=False)
    return int((s > rcond * s[0]).sum()) if s.size and s[0] > 0 else 0


def procrustes(xs, ys):
    c = xs.T @ ys
    u, s, vt = np.linalg.svd(c, full_matrices=False)
    r = int((s > RANK_TOL * s[0]).sum())
    w = u[:, :r] @ vt[:r]
    if r == min(c.shape):
        # The padded square Procrustes (docs/methods.md §5.1) cropped is the same map at full rank.
        d = max(xs.shape[1], ys.shape[1])
        xp = np.zeros((xs.shape[0], d)); xp[:, :xs.shape[1]] = xs
        yp = np.zeros((ys.shape[0], d)); yp[:, :ys.shape[1]] = ys
        up, _, vpt = np.linalg.svd(xp.T @ yp)
        padded = (up @ vpt)[:xs.shape[1], :ys.shape[1]]
        assert np.allclose(padded, w, atol=1e-9), 'padded Procrustes differs from the polar factor'
    return w, np.zeros(ys.shape[1]), r


def fit(method, scaling, x, y, ridge):
    normalize = scaling == 'l2' or method == 'inverse-relative'
    xs, sx = scale(x, scaling, normalize)
    ys, sy = scale(y, scaling, normalize)
    dy = ys.shape[1]
    if method == 'procrustes':
        w, b, r = procrustes(xs, ys)
    elif method == 'linear':
        w = np.linalg.lstsq(xs, ys, rcond=LSTSQ_RCOND)[0]
        b, r = np.zeros(dy), rank_of(xs, LSTSQ_RCOND)
    elif method == 'affine':
        xm, ym = xs.mean(axis=0), ys.mean(axis=0)
        w = np.linalg.lstsq(xs - xm, ys - ym, rcond=LSTSQ_RCOND)[0]
        b, r = ym - xm @ w, rank_of(xs - xm, LSTSQ_RCOND)
        if r == xs.shape[1] and xs.shape[0] > xs.shape[1]:
            joint = np.linalg.lstsq(np.hstack([xs, np.ones((xs.shape[0], 1))]), ys, rcond=None)[0]
            assert np.allclose(joint[:-1], w, atol=1e-8) and np.allclose(joint[-1], b, atol=1e-8)
    elif method == 'ridge':
        lam = ridge * (xs ** 2).sum() / xs.shape[1]
        w = np.linalg.solve(xs.T @ xs + lam * np.eye(xs.shape[1]), xs.T @ ys)
        b, r = np.zeros(dy), rank_of(xs, LSTSQ_RCOND)
    elif method == 'inverse-relative':
        lam = ridge * (ys ** 2).sum() / dy
        if lam == 0:
            w = xs.T @ np.linalg.pinv(ys.T, rcond=LSTSQ_RCOND)
        else:
            w = xs.T @ ys @ np.linalg.inv(ys.T @ ys + lam * np.eye(dy))
        b, r = np.zeros(dy), rank_of(ys, LSTSQ_RCOND)
    return {'w': w, 'b': b, 'rank': r, 'sx': sx, 'sy': sy, 'normalize': normalize}


def apply(m, h):
    s = (h - m['sx']['mean']) / m['sx']['std']
    if m['normalize']:
        s = s / np.maximum(np.linalg.norm(s, axis=1), EPS)[:, None]
    t = s @ m['w'] + m['b']
    if m['normalize']:
        t = m['sy']['mean_norm'] * t / np.maximum(np.linalg.norm(t, axis=1), EPS)[:, None]
    return t * m['sy']['std'] + m['sy']['mean']


def save(name, m):
    path = os.path.join(OUT, name + '.f32')
    np.asarray(m, dtype='<f4').tofile(path)
    return {'file': name + '.f32', 'rows': int(m.shape[0]), 'cols': int(m.shape[1])}


def datasets():
    rng = np.random.default_rng(20240611)
    out = {}
    # Hand-checkable: six 3-d anchors mapped by a rotation about the z axis (then dropping z) plus
    # an offset; three held-out rows.
    x = np.array([[1, 2, 0], [0, 1, 3], [2, -1, 1], [1, 1, 1], [-1, 0, 2], [3, 0, -1]], dtype=float)
    c, s = 0.6, 0.8
    q = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    y = (x @ q)[:, :2] + np.array([0.5, -1.0]) + 0.01 * np.array([[1, -1], [0, 1], [-1, 0], [1, 1], [0, -1], [-1, 1]])
    h = np.array([[0, 0, 1], [2, 2, 2], [-1, 1, 0]], dtype=float)
    out['small'] = (x, y, h)
    # Seeded random: a noisy linear relation with an anisotropic spectrum and offsets.
    for name, dx, dy in [('random_40_30', 40, 30), ('random_30_40', 30, 40)]:
        spectrum = np.linspace(1.0, 0.2, dx)
        a = rng.standard_normal((350, dx)) * spectrum + rng.standard_normal(dx)
        m = rng.standard_normal((dx, dy)) / np.sqrt(dx)
        b = a @ m + 0.3 * rng.standard_normal((350, dy)) + 2.0
        out[name] = (a[:300], b[:300], a[300:])
    # Rank deficient: 20 anchors in 40 dims.
    a = rng.standard_normal((30, 40))
    m = np.linalg.qr(rng.standard_normal((40, 40)))[0]
    b = a @ m + 0.05 * rng.standard_normal((30, 40))
    out['rank_20_in_40'] = (a[:20], b[:20], a[20:])
    # Duplicates: 15 distinct items, each four times, in 30 dims (rank 14 after centring).
    a = rng.standard_normal((25, 30))
    b = a @ np.linalg.qr(rng.standard_normal((30, 30)))[0] + 0.05 * rng.standard_normal((25, 30))
    out['duplicates_60_in_30'] = (np.repeat(a[:15], 4, axis=0), np.repeat(b[:15], 4, axis=0), a[15:])
    return {k: tuple(f32(v) for v in vals) for k, vals in out.items()}


def main():
    os.makedirs(OUT, exist_ok=True)
    index = {'ridge': RIDGE, 'rankTolerance': RANK_TOL, 'lstsqRcond': LSTSQ_RCOND, 'datasets': {}, 'cases': []}
    for name, (x, y, h) in datasets().items():
        index['datasets'][name] = {'x': save(name + '_x', x), 'y': save(name + '_y', y), 'heldOut': save(name + '_h', h)}
        for method in METHODS:
            ridges = [RIDGE, 0.0] if method == 'inverse-relative' else [RIDGE] if method == 'ridge' else [None]
            for ridge in ridges:
                for scaling in SCALINGS:
                    m = fit(method, scaling, x, y, ridge or 0.0)
                    label = f'{name}_{method}_{scaling}' + ('' if ridge is None else f'_r{ridge:g}')
                    index['cases'].append({
                        'name': label, 'dataset': name, 'method': method, 'scaling': scaling,
                        **({} if ridge is None else {'ridge': ridge}),
                        'rank': m['rank'], 'output': save(label, apply(m, h)),
                        'anchorsOutput': save(label + '_anchors', apply(m, x[:8]))
                    })
    with open(os.path.join(OUT, 'index.json'), 'w') as fh:
        json.dump(index, fh, indent=1)
    print(f"wrote {len(index['cases'])} cases to {OUT}")


if __name__ == '__main__':
    main()
