"""Writes the golden .npy files under test/golden/npy/ with real NumPy.

Run from the repository root: python3 scripts/golden/make_npy.py
The values are fixed (no randomness) and the tests in test/codecs/npy-golden.test.ts assert them,
so regenerating must produce identical bytes.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'golden', 'npy')

# Chosen to exercise the edges of float32: -0, the largest finite value, the smallest subnormal,
# and 0.1 (not exact in binary, so the float32 and float64 forms differ).
F4_2X3 = np.array([[1.5, -0.0, 3.4028235e38], [1e-45, -2.25, 0.1]], dtype=np.float32)


def save(name, array):
    np.save(os.path.join(OUT, name), array, allow_pickle=False)


def write_version(name, array, version):
    with open(os.path.join(OUT, name), 'wb') as f:
        np.lib.format.write_array(f, array, version=version, allow_pickle=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    save('f4_2x3.npy', F4_2X3)
    # float64 holding the float32 values exactly, except 0.1 which must round to float32(0.1).
    save('f8_2x3.npy', np.array([[1.5, -0.0, 3.4028234663852886e38], [2.0 ** -149, -2.25, 0.1]], dtype=np.float64))
    save('f4be_2x3.npy', F4_2X3.astype('>f4'))
    save('f8be_2x3.npy', F4_2X3.astype('>f8'))
    write_version('f4_v2_2x3.npy', F4_2X3, (2, 0))
    write_version('f4_v3_2x3.npy', F4_2X3, (3, 0))
    save('f2_2x2.npy', np.array([[1.0, -0.0], [65504.0, 2.0 ** -24]], dtype=np.float16))
    save('f4_1d_4.npy', np.array([0.5, 1.0, -1.5, 2.0], dtype=np.float32))
    save('f4_0x3.npy', np.zeros((0, 3), dtype=np.float32))
    # Values 0..5 laid out column-major on disk.
    save('f4_fortran_2x3.npy', np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    save('f4_3d_2x2x2.npy', np.arange(8, dtype=np.float32).reshape(2, 2, 2))
    save('i4_2x2.npy', np.arange(4, dtype=np.int32).reshape(2, 2))
    nan = F4_2X3.copy()
    nan[1, 0] = np.nan
    save('f4_nan_at_1_0.npy', nan)
    # Finite in float64 but beyond float32's range.
    overflow = F4_2X3.astype(np.float64)
    overflow[1, 2] = 1e39
    save('f8_overflow_at_1_2.npy', overflow)
    # Reference bytes for encodeNpy: 12 rows (a two-digit row count changes NumPy's header padding).
    save('encode_ref_12x5.npy', (np.arange(60, dtype=np.float32) * np.float32(0.25) - np.float32(3)).reshape(12, 5))


if __name__ == '__main__':
    main()
