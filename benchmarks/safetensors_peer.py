"""Benchmark peer for PrefixKit's import and export, with the Python safetensors package.

Usage: safetensors_peer.py import SOURCE.safetensors OUT_DIR    load_file + write every tensor + fsync
       safetensors_peer.py export SOURCE.safetensors OUT.safetensors   load_file + save_file + fsync
Prints one JSON line: {"seconds": ...}.
"""
import json, os, sys, time
from safetensors.numpy import load_file, save_file

mode, source, out = sys.argv[1:4]
t = time.perf_counter()
tensors = load_file(source)
if mode == "import":
    path = os.path.join(out, "raw.bin")
    with open(path, "wb") as f:
        for name in tensors:
            f.write(memoryview(tensors[name]).cast("B"))
        f.flush()
        os.fsync(f.fileno())
else:
    path = out
    save_file(tensors, path, metadata={"format": "pt"})
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
seconds = time.perf_counter() - t
os.remove(path)
print(json.dumps({"seconds": seconds}))
