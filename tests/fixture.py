"""fixture.py — writer for the binary reference fixtures read by tests/fixture.h.

Used by the parity scripts (tests/parity_*.py), which run under Debian's /usr/bin/python3
with python3-torch. Layout: b"PSFX", u32 version=1, u32 count, then per tensor:
u16 name length, name (utf-8), u32 ndim, u32 dims..., u32 dtype (0 float32, 1 float64), data.
"""
import struct

VERSION = 1


def write(path, tensors):
    """tensors: list of (name, array-like) pairs; arrays may be torch tensors or numpy arrays.
    float64 arrays are kept as float64 (dtype 1); everything else is stored as float32."""
    import numpy as np
    with open(path, "wb") as f:
        f.write(b"PSFX")
        f.write(struct.pack("<II", VERSION, len(tensors)))
        for name, arr in tensors:
            if hasattr(arr, "detach"):
                arr = arr.detach().cpu().numpy()
            arr = np.asarray(arr)
            name_b = name.encode("utf-8")
            f.write(struct.pack("<H", len(name_b)))
            f.write(name_b)
            f.write(struct.pack("<I", arr.ndim))
            for d in arr.shape:
                f.write(struct.pack("<I", d))
            if arr.dtype == np.float64:
                f.write(struct.pack("<I", 1))
                f.write(np.ascontiguousarray(arr, dtype="<f8").tobytes())
            else:
                f.write(struct.pack("<I", 0))
                f.write(np.ascontiguousarray(arr, dtype="<f4").tobytes())
