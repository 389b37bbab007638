"""Benchmark peer: HF transformers + PEFT on CPU PyTorch, the prefix-tuned forward users run
instead of PrefixKit.

Usage: peft_forward.py BASE_DIR ADAPTER_DIR IDS ROUNDS THREADS OUT.npy [--once]
Loads the HF model (float32) in the class the adapter's task_type names (CAUSAL_LM:
AutoModelForCausalLM; SEQ_CLS: AutoModelForSequenceClassification, its head from the adapter's
modules_to_save; SEQ_2_SEQ_LM: AutoModelForSeq2SeqLM) and the PEFT prefix-tuning adapter, sets
torch's thread count, warms up once, then times ROUNDS forward passes over the ids (IDS: an .npy
of [N] or [B, N], mask all ones, or an .npz with input_ids, attention_mask and, for
SEQ_2_SEQ_LM, decoder_input_ids) with the weights resident and prints the median as JSON. --once: one forward and exit (the caller times the
whole process). Writes the logits to OUT.npy so the caller can check both sides agree.
PEFT runs SEQ_CLS prefix tuning with transformers 4.57.x only (not 5.x). Install torch,
transformers and peft for this peer only; the tests never need them.
"""
import json, statistics, sys, time

started = time.perf_counter()
import numpy as np
import torch
import transformers, peft
from peft import PeftConfig, PeftModel

CLASSES = {"CAUSAL_LM": "AutoModelForCausalLM", "SEQ_CLS": "AutoModelForSequenceClassification",
           "SEQ_2_SEQ_LM": "AutoModelForSeq2SeqLM"}

base, adapter, ids_path, rounds, threads, out = sys.argv[1:7]
torch.set_num_threads(int(threads))
task = str(PeftConfig.from_pretrained(adapter).task_type).split(".")[-1]
if task not in CLASSES:
    raise SystemExit(f"error: task_type {task} is not one this peer runs ({', '.join(CLASSES)})")
model_class = getattr(transformers, CLASSES[task])
model = PeftModel.from_pretrained(model_class.from_pretrained(base, dtype=torch.float32), adapter).eval()
extra = {}
if ids_path.endswith(".npz"):
    inputs = np.load(ids_path)
    ids = torch.tensor(inputs["input_ids"])
    mask = torch.tensor(inputs["attention_mask"]) if "attention_mask" in inputs.files else torch.ones_like(ids)
    if "decoder_input_ids" in inputs.files:
        extra["decoder_input_ids"] = torch.tensor(inputs["decoder_input_ids"])
else:
    ids = torch.tensor(np.load(ids_path))
    ids = ids.reshape(1, -1) if ids.dim() == 1 else ids
    mask = torch.ones_like(ids)


def run():
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask, **extra).logits


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
