"""Read PrefixKit stores with NumPy, h5py and sqlite3 alone.

A store is a directory: ``catalog.sqlite`` (what is stored, with every tensor's dtype, shape
and SHA-256) and ``blobs/<id>.h5`` (the bytes). This package only reads: the catalog is opened
read-only and no file is written.
"""

from .store import Base, Checkpoint, DigestMismatch, Prefix, Store, StoreError, open_store
from .dtypes import decode

__all__ = ["Base", "Checkpoint", "DigestMismatch", "Prefix", "Store", "StoreError", "decode", "open_store"]
__version__ = "0.1.0"
