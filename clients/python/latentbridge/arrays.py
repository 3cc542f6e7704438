"""The wire forms of matrices: numpy arrays in and out.

Binary request bodies: little-endian float32 goes as raw ``application/octet-stream`` with an
``X-Shape: rows,cols`` header (the service checks the row length against it); float16 and float64
go as a ``.npy`` file (``application/x-npy``), which the service converts. Anything else (ints,
bools) is converted to float32 first. JSON bodies (evaluate, report) carry base64 objects
``{dtype, shape, data}`` in float32, or float16 when the input is float16.
"""

from __future__ import annotations

import base64
import io
from typing import Any, Dict, Tuple

import numpy as np

OCTET_STREAM = "application/octet-stream"
NPY = "application/x-npy"


def as_matrix(array: Any, name: str = "array") -> Tuple[np.ndarray, bool]:
    """A 2-D float array (C order) from ``array``, and whether the input was a single 1-D vector.

    float16, float32 and float64 keep their dtype; other numeric dtypes become float32.
    """
    a = np.asarray(array)
    single = a.ndim == 1
    if single:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows x dim) or one 1-D vector; got shape {a.shape}")
    if a.dtype.kind != "f" or a.dtype.itemsize not in (2, 4, 8):
        a = a.astype(np.float32)
    return np.ascontiguousarray(a), single


def binary_body(matrix: np.ndarray) -> Tuple[bytes, Dict[str, str]]:
    """The request body and headers of a binary matrix: raw float32 with X-Shape, or .npy."""
    rows, cols = matrix.shape
    if matrix.dtype == np.float32:
        data = np.ascontiguousarray(matrix, dtype="<f4").tobytes()
        return data, {"Content-Type": OCTET_STREAM, "X-Shape": f"{rows},{cols}"}
    return encode_npy(matrix), {"Content-Type": NPY}


def encode_npy(matrix: np.ndarray) -> bytes:
    """A .npy file of the matrix (C order, its own dtype)."""
    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(matrix), allow_pickle=False)
    return out.getvalue()


def decode_npy(data: bytes) -> np.ndarray:
    """The array of a .npy answer."""
    return np.load(io.BytesIO(data), allow_pickle=False)


def decode_binary(data: bytes, content_type: str, shape_header: str | None) -> np.ndarray:
    """A matrix answered as .npy, or as raw float32 with its shape in X-Shape."""
    media = content_type.split(";")[0].strip().lower()
    if media == NPY:
        return decode_npy(data)
    if media == OCTET_STREAM and shape_header:
        rows, cols = (int(p) for p in shape_header.split(","))
        return np.frombuffer(data, dtype="<f4").reshape(rows, cols).astype(np.float32)
    raise ValueError(f"expected a binary matrix answer, got Content-Type {content_type!r}")


def base64_matrix(matrix: np.ndarray) -> Dict[str, Any]:
    """The JSON base64 object of a matrix: float16 stays float16, everything else goes as float32."""
    dtype = "float16" if matrix.dtype == np.float16 else "float32"
    wire = np.ascontiguousarray(matrix, dtype="<f2" if dtype == "float16" else "<f4")
    return {"dtype": dtype, "shape": list(wire.shape), "data": base64.b64encode(wire.tobytes()).decode("ascii")}


def from_json_matrix(value: Any) -> np.ndarray:
    """A matrix from a JSON answer: number[][] or a base64 object."""
    if isinstance(value, dict):
        dtype = "<f2" if value.get("dtype") == "float16" else "<f4"
        rows, cols = value["shape"]
        return np.frombuffer(base64.b64decode(value["data"]), dtype=dtype).reshape(rows, cols).astype(np.float32)
    return np.asarray(value, dtype=np.float32)
