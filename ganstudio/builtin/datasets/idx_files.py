"""Read and write IDX files (the MNIST / Fashion-MNIST format), gzipped or not, with clear errors.

from ganstudio.builtin.datasets.idx_files import read_idx
images = read_idx("train-images-idx3-ubyte.gz")   # uint8 tensor (60000, 28, 28)
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ganstudio.errors import GanstudioError

UBYTE = 0x08


def read_idx(path, expect_ndim: int | None = None) -> torch.Tensor:
    """Read an unsigned-byte IDX file into a uint8 tensor; validates magic number and size."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise GanstudioError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as e:
        raise GanstudioError(
            f"{path}: not a readable gzip file ({e}); the download may be truncated, fetch it again"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise GanstudioError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = raw[2], raw[3]
    if dtype != UBYTE:
        raise GanstudioError(f"{path}: IDX data type 0x{dtype:02x} is not supported (expected unsigned bytes, 0x08)")
    if expect_ndim is not None and ndim != expect_ndim:
        raise GanstudioError(f"{path}: IDX file has {ndim} dimensions, expected {expect_ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise GanstudioError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(dims)  # Python ints: four 32-bit sizes cannot overflow
    if expected > 2**40:
        raise GanstudioError(
            f"{path}: the header declares {dims}, {expected:,} bytes: not a real dataset (damaged header)"
        )
    if len(raw) < expected:
        raise GanstudioError(
            f"{path}: truncated: header says {dims} ({expected} bytes) but the file has {len(raw)} bytes"
        )
    if len(raw) > expected:
        raise GanstudioError(
            f"{path}: {len(raw) - expected} unexpected bytes after the data declared by the header {dims}"
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    return torch.from_numpy(array.copy())


def write_idx(path, array, compress: bool | None = None) -> Path:
    """Write a uint8 array as IDX (gzipped when the name ends in .gz). Used by tests and subset tools."""
    path = Path(path)
    array = np.ascontiguousarray(np.asarray(array, dtype=np.uint8))
    data = (
        struct.pack(">BBBB", 0, 0, UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    )
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
