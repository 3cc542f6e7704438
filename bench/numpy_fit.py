#!/usr/bin/env python3
"""numpy side of bench/fit.ts: SVD Procrustes with standard scaling on the same anchors.

Usage: python3 bench/numpy_fit.py X.f32 Y.f32 ROWS DX DY RUNS R_OUT.f64
Reads raw little-endian float32 anchors, then times (after warm-ups) the whole fit as numpy does
it at its best: mean and ddof=1 std per dimension, C = Xs^T Ys, U S V^T = svd(C), R = U V^T, all
float64. Prints one JSON line {"medianMs", "minMs", "svdMedianMs", "numpy", "blas"} and writes R
(float64) for the accuracy comparison. bench/fit.ts starts it without OPENBLAS_CORETYPE /
OPENBLAS_L2_SIZE (docs/engine-notes.md section 7).
"""
import json
import sys
import time

import numpy as np


def scale(a):
    mean = a.mean(axis=0)
    std = a.std(axis=0, ddof=1)
    std = np.where(std < 10 * np.finfo(np.float64).eps, 1.0, std)
    return (a - mean) / std


def fit(x, y):
    c = scale(x).T @ scale(y)
    u, _, vt = np.linalg.svd(c, full_matrices=False)
    return u @ vt, c


def main():
    x_path, y_path, rows, dx, dy, runs, r_out = sys.argv[1:8]
    rows, dx, dy, runs = int(rows), int(dx), int(dy), int(runs)
    x = np.fromfile(x_path, dtype='<f4').reshape(rows, dx).astype(np.float64)
    y = np.fromfile(y_path, dtype='<f4').reshape(rows, dy).astype(np.float64)
    for _ in range(2):
        r, c = fit(x, y)
    times, svd_times = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        r, c = fit(x, y)
        times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        u, _, vt = np.linalg.svd(c, full_matrices=False)
        u @ vt
        svd_times.append((time.perf_counter() - t0) * 1000)
    r.astype('<f8').tofile(r_out)
    times.sort()
    svd_times.sort()
    blas = ''
    try:
        blas = np.show_config(mode='dicts')['Build Dependencies']['blas']['name']
    except Exception:  # older numpy
        pass
    print(json.dumps({'medianMs': times[len(times) // 2], 'minMs': times[0], 'svdMedianMs': svd_times[len(svd_times) // 2],
                      'numpy': np.__version__, 'blas': blas}))


if __name__ == '__main__':
    main()
