#!/usr/bin/env python3
"""numpy side of bench/translate.ts: X @ R in float32, and the whole standard-scaled map.

Usage: python3 bench/numpy_translate.py X.f32 R.f32 ROWS DX DY RUNS
Prints one JSON line {"matmulMedianMs", "matmulMinMs", "mapMedianMs", "numpy", "blas"}:
X @ R alone, and ((X - mx) * sx) @ R * sy + my (what a standard-scaled translator computes).
bench/translate.ts starts it without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (docs/engine-notes.md section 7).
"""
import json
import sys
import time

import numpy as np


def median_ms(fn, runs):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2], times[0]


def main():
    x_path, r_path, rows, dx, dy, runs = sys.argv[1:7]
    rows, dx, dy, runs = int(rows), int(dx), int(dy), int(runs)
    x = np.fromfile(x_path, dtype='<f4').reshape(rows, dx)
    r = np.fromfile(r_path, dtype='<f4').reshape(dx, dy)
    rng = np.random.default_rng(0)
    mx, sx = rng.standard_normal(dx).astype(np.float32), (1 + rng.random(dx)).astype(np.float32)
    my, sy = rng.standard_normal(dy).astype(np.float32), (1 + rng.random(dy)).astype(np.float32)
    matmul, matmul_min = median_ms(lambda: x @ r, runs)
    full, _ = median_ms(lambda: ((x - mx) * sx) @ r * sy + my, runs)
    blas = ''
    try:
        blas = np.show_config(mode='dicts')['Build Dependencies']['blas']['name']
    except Exception:  # older numpy
        pass
    print(json.dumps({'matmulMedianMs': matmul, 'matmulMinMs': matmul_min, 'mapMedianMs': full,
                      'numpy': np.__version__, 'blas': blas}))


if __name__ == '__main__':
    main()
