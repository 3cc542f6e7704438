#!/usr/bin/env python3
"""numpy side of bench/relative.ts: cosine relative projection normalize(X) @ normalize(A).T.

Usage: python3 bench/numpy_relative.py X.f32 A.f32 ROWS ANCHORS DIM RUNS
Reads raw little-endian float32 matrices, runs warm-ups then RUNS timed runs, and prints one JSON
line: {"medianMs", "minMs", "rowsPerSecond", "numpy", "blas"}. bench/relative.ts starts it without
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (docs/engine-notes.md section 7) so numpy runs at its best.
"""
import json
import sys
import time

import numpy as np


def normalize(m):
    n = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(n, np.float32(1e-12))


def main():
    x_path, a_path, rows, anchors, dim, runs = sys.argv[1:7]
    rows, anchors, dim, runs = int(rows), int(anchors), int(dim), int(runs)
    x = np.fromfile(x_path, dtype='<f4').reshape(rows, dim)
    a = np.fromfile(a_path, dtype='<f4').reshape(anchors, dim)
    for _ in range(3):
        normalize(x) @ normalize(a).T
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        y = normalize(x) @ normalize(a).T
        times.append((time.perf_counter() - t0) * 1000)
    assert y.shape == (rows, anchors) and y.dtype == np.float32
    times.sort()
    median = times[len(times) // 2]
    blas = ''
    try:
        cfg = np.show_config(mode='dicts')
        blas = cfg['Build Dependencies']['blas']['name']
    except Exception:  # older numpy
        pass
    print(json.dumps({'medianMs': median, 'minMs': times[0], 'rowsPerSecond': rows / median * 1000,
                      'numpy': np.__version__, 'blas': blas}))


if __name__ == '__main__':
    main()
