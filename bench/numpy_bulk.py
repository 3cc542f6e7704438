#!/usr/bin/env python3
"""numpy side of bench/bulk.ts: X @ R on the same .npy, in-process.

Usage: python3 bench/numpy_bulk.py X.npy R.f32 [OUT.npy]
Prints one JSON line:
  loadS      reading X whole into memory (np.load),
  matmulS    X @ R on the loaded array (float32, best of 2): the goal's baseline,
  chunkedS   the same product chunk by chunk from a memory map of the file (4,096 rows at a
             time, results into a preallocated array): what a script over a file too large
             for memory does,
  maxAbsDiff with OUT: the largest |OUT - X @ R| over 4,096 sampled rows (checks the service).
bench/bulk.ts starts it without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (docs/engine-notes.md section 7).
"""
import json
import sys
import time

import numpy as np


def main():
    x_path, r_path = sys.argv[1], sys.argv[2]
    out_path = sys.argv[3] if len(sys.argv) > 3 else None
    t0 = time.perf_counter()
    x = np.load(x_path)
    load_s = time.perf_counter() - t0
    r = np.fromfile(r_path, dtype='<f4').reshape(x.shape[1], -1)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        y = x @ r
        times.append(time.perf_counter() - t0)
    del y
    mm = np.load(x_path, mmap_mode='r')
    out = np.empty((mm.shape[0], r.shape[1]), dtype=np.float32)
    t0 = time.perf_counter()
    for start in range(0, mm.shape[0], 4096):
        np.matmul(mm[start:start + 4096], r, out=out[start:start + 4096])
    chunked_s = time.perf_counter() - t0
    result = {'rows': int(x.shape[0]), 'loadS': load_s, 'matmulS': min(times), 'chunkedS': chunked_s,
              'numpy': np.__version__}
    if out_path is not None:
        got = np.load(out_path, mmap_mode='r')
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(x.shape[0], size=min(4096, x.shape[0]), replace=False))
        result['maxAbsDiff'] = float(np.max(np.abs(got[idx] - x[idx] @ r))) if len(idx) else 0.0
        result['shapeOk'] = list(got.shape) == [x.shape[0], r.shape[1]]
    print(json.dumps(result))


if __name__ == '__main__':
    main()
