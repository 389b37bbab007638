"""Benchmark peer: the GPT-2 prefix-tuned forward in NumPy float32, on the weights PrefixKit uses.

Usage: numpy_forward.py WEIGHTS.npz PREFIX.npz IDS.npy ROUNDS OUT.npy
Two variants, each timed ROUNDS times (median printed as JSON):
  full: every block runs on all Pn + N rows (the definition), keeps the last N;
  skip: prefix rows only go through LN1 and the key/value projection (their outputs are discarded).
Writes the skip variant's final output to OUT.npy so the caller can check both sides agree.
"""
import json, sys, time
import numpy as np

weights_path, prefix_path, ids_path, rounds, out_path = sys.argv[1:6]
w = dict(np.load(weights_path))
prefix = np.load(prefix_path)
ids = np.load(ids_path).reshape(-1)
L = sum(1 for k in w if k.endswith(".ln_1.weight"))
d = w["wte.weight"].shape[1]
H = int(sys.argv[6]) if len(sys.argv) > 6 else 12
hd = d // H
P = [prefix[f"prefix.layer_{l:02d}"] for l in range(L)]
pn, n = P[0].shape[0], ids.shape[-1]


def ln(x, g, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + np.float32(1e-5)) * g + b


def gelu(x):
    return np.float32(0.5) * x * (np.float32(1) + np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)))


def attention(q, k, v, offset):
    rq, rk = q.shape[0], k.shape[0]
    q = q.reshape(rq, H, hd).transpose(1, 0, 2)
    k = k.reshape(rk, H, hd).transpose(1, 0, 2)
    v = v.reshape(rk, H, hd).transpose(1, 0, 2)
    s = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(hd))
    mask = np.arange(rk)[None, :] <= (offset + np.arange(rq))[:, None]
    s = np.where(mask[None], s, np.float32(-np.inf))
    s = np.exp(s - s.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    return (s @ v).transpose(1, 0, 2).reshape(rq, d)


def block(l, x, past=None):
    p = f"h.{l}."
    a = ln(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"])
    qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
    q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
    offset = 0
    if past is not None:
        k = np.concatenate([past[0], k]); v = np.concatenate([past[1], v]); offset = past[0].shape[0]
    h = x + attention(q, k, v, offset) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
    m = gelu(ln(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"]) @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
    return h + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]


def forward(skip):
    x = w["wte.weight"][ids] + w["wpe.weight"][pn:pn + n]
    for l in range(L):
        if skip:
            p = f"h.{l}."
            a = ln(P[l], w[p + "ln_1.weight"], w[p + "ln_1.bias"])
            kv = a @ w[p + "attn.c_attn.weight"][:, d:] + w[p + "attn.c_attn.bias"][d:]
            x = block(l, x, (kv[:, :d], kv[:, d:]))
        else:
            x = block(l, np.concatenate([P[l], x]))[pn:]
    return ln(x, w["ln_f.weight"], w["ln_f.bias"])


result = {}
for name, skip in (("full", False), ("skip", True)):
    forward(skip)
    times = []
    for _ in range(int(rounds)):
        t = time.perf_counter(); out = forward(skip); times.append(time.perf_counter() - t)
    result[name] = float(np.median(times))
np.save(out_path, out)
import numpy
cfg = numpy.show_config(mode="dicts") if "mode" in numpy.show_config.__code__.co_varnames else {}
blas = cfg.get("Build Dependencies", {}).get("blas", {})
result["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
print(json.dumps(result))
