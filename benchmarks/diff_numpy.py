"""The NumPy peer of `prefixkit diff`: two exported prefix .npz files compared per layer, part and
key/value head (max abs, relative L2 against the larger norm, cosine), in float64.

usage: diff_numpy.py A.npz B.npz ROUNDS [--once]
Prints JSON: the in-process median over ROUNDS (after one warm-up), or with --once one pass.
"""

import json
import sys
import time

import numpy as np


def measures(x, y):
    d = x - y
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    scale = max(nx, ny)
    return (float(np.max(np.abs(d))), float(np.linalg.norm(d) / scale) if scale > 0 else 0.0,
            float(np.sum(x * y) / (nx * ny)) if nx > 0 and ny > 0 else None)


def diff(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    out = []
    for name in sorted(k for k in a.files if k.startswith("prefix.")):
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        heads = [measures(x[h], y[h]) for h in range(x.shape[0])] if x.ndim == 3 and x.shape[0] > 1 else []
        out.append((name, measures(x, y), heads))
    return out


def main():
    a, b, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if "--once" in sys.argv:
        diff(a, b)
        print(json.dumps({"tool": f"numpy {np.__version__}"}))
        return
    result = diff(a, b)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = diff(a, b)
        times.append(time.perf_counter() - start)
    print(json.dumps({"median": sorted(times)[len(times) // 2], "tool": f"numpy {np.__version__}",
                      "largest_relative_l2": max(m[1] for _, m, _ in result)}))


if __name__ == "__main__":
    main()
