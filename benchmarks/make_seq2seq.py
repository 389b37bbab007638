"""Builds the encoder-decoder benchmark's model with the real tools: a T5-base-shaped
T5ForConditionalGeneration (v1.0: ReLU MLP, tied head; L = 12, d_model = 768, 12 heads of 64,
d_ff = 3072, vocabulary 32128; --small: L = 2, d_model = 256, 4 heads, d_ff = 1024, vocabulary
1000) with seeded random weights, a PEFT SEQ_2_SEQ_LM prefix-tuning adapter (Pn = 20) with random
prompt embeddings, and the inputs: a source of N = 128 ids and a target of 32 decoder ids.

Usage: make_seq2seq.py WORK [--small]      # writes WORK/hf, WORK/adapter, WORK/inputs.npz
Needs torch, transformers and peft (the benchmark peer's Python); the tests never run it.
"""
import json, os, sys
import numpy as np
import torch
import transformers as T
from peft import PrefixTuningConfig, get_peft_model

work = sys.argv[1]
small = "--small" in sys.argv
PN, N, TARGET = 20, 128, 32
shape = dict(num_layers=2, d_model=256, num_heads=4, d_ff=1024, vocab_size=1000) if small else \
    dict(num_layers=12, d_model=768, num_heads=12, d_ff=3072, vocab_size=32128)
torch.manual_seed(61)
model = T.T5ForConditionalGeneration(T.T5Config(**shape, d_kv=64, feed_forward_proj="relu", dropout_rate=0.0)).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        if "layer_norm" in name:
            p.add_(torch.randn_like(p) * 0.1)
model.save_pretrained(os.path.join(work, "hf"))
peft_model = get_peft_model(model, PrefixTuningConfig(task_type="SEQ_2_SEQ_LM", num_virtual_tokens=PN))
torch.manual_seed(62)
with torch.no_grad():
    for p in peft_model.prompt_encoder.parameters():
        p.normal_(0.0, 0.5)
peft_model.save_pretrained(os.path.join(work, "adapter"))
rng = np.random.default_rng(63)
ids = rng.integers(3, shape["vocab_size"], (1, N))
decoder_ids = rng.integers(3, shape["vocab_size"], (1, TARGET))
decoder_ids[:, 0] = getattr(model.config, "decoder_start_token_id", None) or model.config.pad_token_id
np.savez(os.path.join(work, "inputs.npz"), input_ids=ids, attention_mask=np.ones_like(ids), decoder_input_ids=decoder_ids)
print(json.dumps({"tool": f"torch {torch.__version__}, transformers {T.__version__}", "config": shape}))
