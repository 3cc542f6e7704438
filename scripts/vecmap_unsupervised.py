"""
Reference for the zero-anchor fit: VecMap's unsupervised recipe (Artetxe, Labaka and Agirre 2018)
in numpy float64, as map_embeddings.py --unsupervised runs it, on bench/unsupervised.ts's pools.
For checking only (the service never runs it).

  - normalise unit, centre, unit;
  - start: sqrt similarity U S Uᵀ of each pool, rows sorted, normalised, CSLS (k=10) nearest
    neighbours both ways (union);
  - self-learning with the *orthogonal* map (Procrustes x -> z: map_embeddings.py uses the
    whitened mapping only once, after the loop), CSLS union induction, keep probability 0.1
    doubling after 50 iterations without a rise of the objective of 1e-6;
  - last step: whitening, orthogonal mapping, re-weighting 0.5, de-whitening on the last
    dictionary.

Prints, per run: the start's correct pairs, iterations, objective, time, and top-1 of the shared
words among the whole target pool (nearest neighbour by dot product of the mapped rows, and also
by CSLS), after the final step.

  python3 scripts/vecmap_unsupervised.py POOLS.json [case ...]      case = 1500-0 (shared-seed)
POOLS.json maps "shared-seed" to {"x": word rows, "z": word rows} (the bench's pools).
Env: WORDS_DIR, DIRECTIONS=gw,wg, INTERVAL=50, VERBOSE=1, PCA=1 (the wider pool reduced to the narrower's
dimension by its top principal axes first).
"""
import json
import os
import sys
import time

import numpy as np

WORDS = os.environ.get('WORDS_DIR', os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data', 'words'))
INTERVAL = int(os.environ.get('INTERVAL', 50))
K = 10


def load(name, dim):
    return np.fromfile(os.path.join(WORDS, name), dtype='<f4').reshape(-1, dim).astype(np.float64)


def normalize(m):
    m = m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    m = m - m.mean(axis=0)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def topk_mean(m, k):
    return -np.partition(-m, k - 1, axis=1)[:, :k].mean(axis=1)


def sorted_start(x, z):
    n = min(len(x), len(z))
    u, s, _ = np.linalg.svd(x[:n], full_matrices=False)
    xsim = (u * s) @ u.T
    u, s, _ = np.linalg.svd(z[:n], full_matrices=False)
    zsim = (u * s) @ u.T
    xsim.sort(axis=1)
    zsim.sort(axis=1)
    sim = normalize(xsim) @ normalize(zsim).T
    sim -= topk_mean(sim, K)[:, None] / 2 + topk_mean(sim.T, K)[None, :] / 2
    src = np.concatenate((np.arange(n), sim.argmax(axis=0)))
    trg = np.concatenate((sim.argmax(axis=1), np.arange(n)))
    return src, trg


def dropout(m, keep, rng):
    if keep >= 1:
        return m
    return np.where(rng.random(m.shape) < keep, m, 0.0)


def self_learn(x, z, src, trg, rng, log=None):
    best = -100.0
    it = 1
    last = 0
    keep = 0.1
    end = False
    objective = best
    while True:
        if it - last > INTERVAL:
            if keep >= 1:
                end = True
            keep = min(1.0, 2 * keep)
            last = it
        if not end:
            u, _, vt = np.linalg.svd(z[trg].T @ x[src], full_matrices=False)
            xw = x @ (vt.T @ u.T)
            zw = z
        else:
            def whiten(m):
                _, s, vt = np.linalg.svd(m, full_matrices=False)
                return vt.T @ np.diag(1 / s) @ vt
            wx1 = whiten(x[src])
            wz1 = whiten(z[trg])
            xw = x @ wx1
            zw = z @ wz1
            wx2, s, wz2t = np.linalg.svd(xw[src].T @ zw[trg], full_matrices=False)
            wz2 = wz2t.T
            xw = (xw @ wx2) * s ** 0.5
            zw = (zw @ wz2) * s ** 0.5
            xw = xw @ (wx2.T @ np.linalg.inv(wx1) @ wx2)
            zw = zw @ (wz2.T @ np.linalg.inv(wz1) @ wz2)
            return xw, zw, it, objective
        sim = xw @ zw.T
        knn_fwd = topk_mean(sim, K)
        knn_bwd = topk_mean(sim.T, K)
        best_fwd = sim.max(axis=1)
        best_bwd = sim.max(axis=0)
        trg_f = dropout(sim - knn_bwd[None, :] / 2, keep, rng).argmax(axis=1)
        src_b = dropout(sim.T - knn_fwd[None, :] / 2, keep, rng).argmax(axis=1)
        src = np.concatenate((np.arange(len(x)), src_b))
        trg = np.concatenate((trg_f, np.arange(len(z))))
        objective = (best_fwd.mean() + best_bwd.mean()) / 2
        if objective - best >= 1e-6:
            last = it
            best = objective
        if log is not None and it % 25 == 0:
            log(f'      it {it} keep {keep:.2f} objective {objective:.4f}')
        it += 1


def right_pairs(src, trg, truth):
    return int(sum(1 for s, t in zip(src, trg) if truth.get(int(s)) == int(t)))


def top1(xw, zw, shared_x, shared_z):
    xn = xw / np.linalg.norm(xw, axis=1, keepdims=True)
    zn = zw / np.linalg.norm(zw, axis=1, keepdims=True)
    sim = xn[shared_x] @ zn.T
    nn = (sim.argmax(axis=1) == shared_z).mean()
    full = xn @ zn.T
    csls = 2 * sim - topk_mean(sim, K)[:, None] - topk_mean(full.T, K)[None, :]
    return nn, (csls.argmax(axis=1) == shared_z).mean()


def main():
    pools = json.load(open(sys.argv[1]))
    cases = sys.argv[2:] or ['1500-0', '1500-1', '1500-2']
    spaces = {'g': load('glove100.f32', 100), 'w': load('word2vec300.f32', 300)}
    for case in cases:
        shared, seed = map(int, case.split('-'))
        p = pools[case]
        for direction in os.environ.get('DIRECTIONS', 'gw,wg').split(','):
            a, b = spaces[direction[0]], spaces[direction[1]]
            xr, zr = (p['x'], p['z']) if direction == 'gw' else (p['z'], p['x'])
            x = normalize(a[xr])
            z = normalize(b[zr])
            if os.environ.get('PCA') == '1':
                # the wider pool reduced to the narrower one's dimension by its top principal axes
                r = min(x.shape[1], z.shape[1])
                reduce = lambda m: normalize(m @ np.linalg.svd(m, full_matrices=False)[2][:r].T)
                x, z = reduce(x), reduce(z)
            where = {w: j for j, w in enumerate(zr)}
            truth = {i: where[w] for i, w in enumerate(xr) if w in where}
            sx = np.array(list(truth.keys()), dtype=int)
            sz = np.array([truth[i] for i in sx], dtype=int)
            rng = np.random.default_rng(seed)
            t = time.time()
            src, trg = sorted_start(x, z)
            start_right = right_pairs(src, trg, truth)
            t_start = time.time() - t
            xw, zw, it, objective = self_learn(x, z, src, trg, rng, log=print if os.environ.get('VERBOSE') else None)
            nn, csls = top1(xw, zw, sx, sz) if len(sx) else (float('nan'), float('nan'))
            print(f'{case} {direction}: start right {start_right}/{len(src)} ({t_start:.1f} s), {it} it, objective {objective:.3f}, top-1 nn {nn:.3f} csls {csls:.3f}, {time.time() - t:.0f} s', flush=True)


main()
