"""Benchmark peer: HF transformers + PEFT on CPU PyTorch, a prefix-tuned encoder with its
sequence-classification head (what users run instead of PrefixKit).

Usage: peft_encoder.py BASE_DIR ADAPTER_DIR IDS.npy ROUNDS THREADS OUT.npy [--once]
Loads AutoModelForSequenceClassification (float32) and the PEFT SEQ_CLS prefix-tuning adapter
(with its head under modules_to_save), sets torch's thread count, warms up once, then times
ROUNDS forward passes over the [B, N] ids (attention mask all ones) with the weights resident and
prints the median as JSON. --once: one forward and exit (the caller times the whole process).
Writes the logits [B, labels] to OUT.npy so the caller can check both sides agree. PEFT runs
SEQ_CLS prefix tuning with transformers 4.57.x (not 5.x): install those for this peer only.
"""
import json, statistics, sys, time

started = time.perf_counter()
import numpy as np
import torch
import transformers, peft
from transformers import AutoModelForSequenceClassification
from peft import PeftModel

base, adapter, ids_path, rounds, threads, out = sys.argv[1:7]
torch.set_num_threads(int(threads))
model = PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base, dtype=torch.float32), adapter).eval()
ids = torch.tensor(np.load(ids_path))
mask = torch.ones_like(ids)


def run():
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask).logits


logits = run()
if "--once" not in sys.argv:
    times = []
    for _ in range(int(rounds)):
        t = time.perf_counter()
        logits = run()
        times.append(time.perf_counter() - t)
np.save(out, logits.numpy())
print(json.dumps({"median": statistics.median(times) if "--once" not in sys.argv else None,
                  "total": time.perf_counter() - started, "threads": torch.get_num_threads(),
                  "tool": f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}",
                  "attention": model.get_base_model().config._attn_implementation}))
