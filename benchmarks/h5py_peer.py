"""Benchmark peer: h5py writing (with fsync) and reading the same tensors PrefixKit saves.

Usage: h5py_peer.py RAW_FILE MANIFEST_JSON OUT_DIR
The raw file holds the tensors back to back; the manifest lists [name, shape, offset, nbytes].
Prints one JSON line: {"write_s": ..., "read_s": ..., "bytes": ...}.
"""
import json, os, sys, time
import h5py, numpy as np

raw, manifest_path, out_dir = sys.argv[1:4]
manifest = json.load(open(manifest_path))
blob = np.fromfile(raw, dtype=np.uint8)
arrays = [(name, blob[off:off + n].view(np.float32).reshape(shape)) for name, shape, off, n in manifest]
path = os.path.join(out_dir, "h5py-peer.h5")
if os.path.exists(path):
    os.remove(path)
t0 = time.perf_counter()
with h5py.File(path, "w") as f:
    for name, a in arrays:
        f.create_dataset("/base/" + name, data=a)
fd = os.open(path, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
t1 = time.perf_counter()
total = 0
checksum = 0
with h5py.File(path, "r") as f:
    for name, _ in arrays:
        a = f["/base/" + name][()]
        checksum ^= int(a.view(np.uint64).sum(dtype=np.uint64)) if a.nbytes % 8 == 0 else int(a.view(np.uint32).sum(dtype=np.uint64))
        total += a.nbytes
t2 = time.perf_counter()
os.remove(path)
print(json.dumps({"write_s": t1 - t0, "read_s": t2 - t1, "bytes": total, "checksum": checksum}))
