"""PrefixKit's dtypes as NumPy arrays.

HDF5 and NumPy have no bfloat16 or float8: PrefixKit stores them as unsigned integers of their
width with a ``dtype`` attribute naming them (ml_dtypes' names). ``decode`` widens them to float32
exactly; every other dtype is NumPy's own.
"""

import numpy as np

#: The NumPy dtype PrefixKit's catalog names map to, as stored.
STORED = {
    "f64": np.dtype("<f8"), "f32": np.dtype("<f4"), "f16": np.dtype("<f2"), "bf16": np.dtype("<u2"),
    "f8e4m3": np.dtype("u1"), "f8e5m2": np.dtype("u1"),
    "i64": np.dtype("<i8"), "i32": np.dtype("<i4"), "i16": np.dtype("<i2"), "i8": np.dtype("i1"),
    "u64": np.dtype("<u8"), "u32": np.dtype("<u4"), "u16": np.dtype("<u2"), "u8": np.dtype("u1"), "bool": np.dtype("?"),
}


def _e4m3_table():
    """float8 e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities, NaN at S.1111.111."""
    table = np.empty(256, dtype=np.float32)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exponent, mantissa = (code >> 3) & 0xF, code & 0x7
        if exponent == 0xF and mantissa == 0x7:
            table[code] = np.nan
        elif exponent == 0:
            table[code] = sign * (mantissa / 8.0) * 2.0 ** -6
        else:
            table[code] = sign * (1.0 + mantissa / 8.0) * 2.0 ** (exponent - 7)
    return table


_E4M3 = _e4m3_table()


def decode(raw, dtype):
    """The values of ``raw`` (a NumPy array as stored) for PrefixKit's ``dtype``: bf16, f8e4m3 and
    f8e5m2 widened to float32 exactly, everything else unchanged."""
    if dtype == "bf16":
        return (raw.astype("<u4") << 16).view("<f4")
    if dtype == "f8e5m2":
        # e5m2 is the top byte of an IEEE binary16: same exponent bias and special values.
        return (raw.astype("<u2") << 8).view("<f2").astype(np.float32)
    if dtype == "f8e4m3":
        return _E4M3[raw]
    return raw
