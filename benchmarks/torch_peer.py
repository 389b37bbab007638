"""Benchmark peer for importing a PyTorch checkpoint: what a user does instead of PrefixKit.

Usage: torch_peer.py make SOURCE.safetensors OUT.bin     torch.save of the safetensors' state dict
       torch_peer.py import SOURCE.bin OUT_DIR            torch.load(weights_only=True, mmap=True)
                                                          + write every tensor + fsync
Prints one JSON line: {"seconds": ...} (import) or {"bytes": ...} (make). Needs torch.
"""
import json, os, sys, time
import torch

mode, source, out = sys.argv[1:4]
if mode == "make":
    from safetensors.torch import load_file
    state = load_file(source)
    torch.save(state, out)
    print(json.dumps({"bytes": os.path.getsize(out), "tool": f"torch {torch.__version__}"}))
    sys.exit(0)
t = time.perf_counter()
state = torch.load(source, weights_only=True, mmap=True)
path = os.path.join(out, "raw.bin")
with open(path, "wb") as f:
    for name, tensor in state.items():
        f.write(memoryview(tensor.contiguous().view(torch.uint8).numpy()))
    f.flush()
    os.fsync(f.fileno())
seconds = time.perf_counter() - t
os.remove(path)
print(json.dumps({"seconds": seconds, "tool": f"torch {torch.__version__}"}))
