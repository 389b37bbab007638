#!/usr/bin/env python3
"""An independent reference for `prefixkit verify --reference`: the activation exchange format
(.npz) of an HF model + PEFT prefix-tuning adapter, computed by transformers and PEFT themselves,
with every layer's input and output.

    pip install 'prefixkit[reference]'        # transformers, PEFT and torch: the reference tools
    prefixkit reference my-model/ my-adapter/ --out ref.npz
    prefixkit verify STORE CHECKPOINT --reference ref.npz --require-reference

(`prefixkit reference` runs `python -m prefixkit.reference` with the Python it was installed
with; the module takes --base, --adapter, --out and the input options below directly.)

The input: --ids, an .npy of token ids ([N] or [B, N]) or an .npz holding `input_ids` (and
optionally `attention_mask`, 1 real / 0 padding, `token_type_ids`, and for SEQ_2_SEQ_LM adapters
the `decoder_input_ids` the decoder runs on, which they need); or --text, tokenized with the
base's own tokenizer (one row per --text, left-padded for decoders); or, with neither, a fixed
batch of two rows of 12 token ids drawn with seed 0 below the vocabulary size, the second one
left-padded by 4 (`meta.input` says which). The adapter's task type picks the model class:
CAUSAL_LM, FEATURE_EXTRACTION (`final` is the last hidden state, plus `pooler_output`), SEQ_CLS
and TOKEN_CLS (`logits` of the task head), SEQ_2_SEQ_LM (T5, BART: both stacks' blocks as
`encoder.layer_LL.*` / `decoder.layer_LL.*`, `encoder.final`, the decoder's `final` and
`logits`). The model runs in float64 by default (--dtype f32 for float32); the file records the
tool versions in `meta`.

What is written (schemas/exchange-format.md): `input_ids`, `attention_mask`, for every block l
`layer_LL.input` (the hidden states entering block l, [B, N, d]: PEFT's prefix is key/value
form, so the input rows only) and `layer_LL.output` (what block l returns, before the final
norm), `final` (after the final norm), `logits`, `meta`. Block inputs and outputs are taken with
forward hooks on the decoder blocks, so the last block's output is included (HF's
`hidden_states` tuple replaces it with the normed value).

Rotary models: transformers computes RoPE angles in float32 even in a float64 model (relative
error ~1e-8 per layer); `meta` then says `"rope_dtype": "f32"`, and `verify` holds such a
reference to the f32 tolerances while recomputing in float64. BLOOM and MPT compute the
attention softmax in float32 likewise: `"softmax_dtype": "f32"`, and T5's RMS norm its mean
square: `"norm_dtype": "f32"`, held to the same tolerances.

Positions: in decoders, real tokens of a left-padded row take Pn, Pn+1, ... The module checks,
on the unpadded inputs, whether this PEFT version offsets caller-given `position_ids` by
num_virtual_tokens (0.21 does) and passes them accordingly. Encoders get no position_ids:
transformers computes them (BERT by column from Pn, RoBERTa from pad_token_id + 1 + Pn skipping
padding ids), and `meta` names the rule as `position_rule`.
"""
import argparse
import importlib.util
import json
import os
import sys

import numpy as np

# What the reference needs beyond NumPy, and the extra that installs it.
TOOLS = ("torch", "transformers", "peft")
INSTALL_HINT = "pip install 'prefixkit[reference]' (or torch, transformers and peft)"


def decoder_blocks(model, num_layers):
    """The ModuleList of decoder blocks: the first one with one entry per layer."""
    import torch
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == num_layers and name.split(".")[-1] in ("h", "layers", "blocks", "layer"):
            return name, module
    raise SystemExit(f"error: no ModuleList of {num_layers} decoder blocks found in {type(model).__name__}")


def load_inputs(path):
    if path.endswith(".npz"):
        data = np.load(path, allow_pickle=False)
        if "input_ids" not in data.files:
            raise SystemExit(f"error: {path} has no input_ids")
        ids = data["input_ids"]
        mask = data["attention_mask"] if "attention_mask" in data.files else np.ones_like(ids)
    else:
        ids = np.load(path, allow_pickle=False)
        mask = np.ones_like(ids)
    if ids.ndim == 1:
        ids, mask = ids[None, :], mask[None, :]
    if ids.ndim != 2 or mask.shape != ids.shape:
        raise SystemExit(f"error: input ids must be [N] or [B, N] with a mask of the same shape; got {ids.shape} and {mask.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise SystemExit(f"error: input ids must be integers; got {ids.dtype}")
    return ids.astype(np.int64), mask.astype(np.int64)


# The transformers class that runs each PEFT task type, and whether it is a decoder.
TASKS = {
    "CAUSAL_LM": ("AutoModelForCausalLM", True),
    "FEATURE_EXTRACTION": ("AutoModel", False),
    "SEQ_CLS": ("AutoModelForSequenceClassification", False),
    "TOKEN_CLS": ("AutoModelForTokenClassification", False),
    "SEQ_2_SEQ_LM": ("AutoModelForSeq2SeqLM", True),
}

# How transformers places an encoder's input rows after a prefix of Pn (checked on the installed
# version by the fixtures' tests): BERT-like models by column from Pn, RoBERTa-like ones from
# pad_token_id + 1 + Pn skipping padding ids.
POSITION_RULES = {"roberta": "skip-padding-ids", "xlm-roberta": "skip-padding-ids"}

# Model types whose transformers class takes no key/value cache: PEFT's prefix is ignored there.
NO_CACHE = {"distilbert"}


def reference(base, adapter, ids, mask, dtype="f64", token_types=None, decoder_ids=None):
    """Runs the PEFT model and returns the exchange entries (a dict of NumPy arrays)."""
    import torch, transformers, peft
    from peft import PeftConfig, PeftModel

    task = str(PeftConfig.from_pretrained(adapter).task_type or "CAUSAL_LM").split(".")[-1]
    if task not in TASKS:
        raise SystemExit(f"error: task_type {task} is not one this script runs ({', '.join(TASKS)})")
    class_name, causal = TASKS[task]
    model = PeftModel.from_pretrained(getattr(transformers, class_name).from_pretrained(base), adapter).eval()
    model = model.double() if dtype == "f64" else model.float()
    if task == "SEQ_2_SEQ_LM":
        if decoder_ids is None:
            raise SystemExit("error: a SEQ_2_SEQ_LM adapter needs decoder_input_ids in the --input .npz")
        return seq2seq_reference(model, ids, mask, decoder_ids, dtype)
    config = model.peft_config[model.active_adapter]
    if str(config.peft_type).split(".")[-1] != "PREFIX_TUNING":
        raise SystemExit(f"error: {adapter} is a {config.peft_type} adapter, not prefix tuning")
    pn = config.num_virtual_tokens
    core = model.get_base_model()
    num_layers = core.config.num_hidden_layers if hasattr(core.config, "num_hidden_layers") else core.config.n_layers
    _, blocks = decoder_blocks(core, num_layers)

    captured = {}

    def hook(index):
        def record(module, args, kwargs, output):
            hidden = args[0] if args else kwargs["hidden_states"]
            out = output[0] if isinstance(output, tuple) else output
            captured[index] = (hidden.detach().double().numpy().copy(), out.detach().double().numpy().copy())
        return record

    handles = [block.register_forward_hook(hook(i), with_kwargs=True) for i, block in enumerate(blocks)]
    if token_types is not None:
        # PEFT drops token_type_ids for every prompt-learning method (with a warning), so the
        # model sees type 0 everywhere: record what it computed, not what was asked.
        print("note: PEFT ignores token_type_ids for prefix tuning; the reference uses type 0 and does not record them",
              file=sys.stderr)
        token_types = None
    extra = {}
    logits_by = None
    try:
        t_ids, t_mask = torch.tensor(ids), torch.tensor(mask)
        with torch.no_grad():
            if causal:
                # Which position_ids does this PEFT version want? Compare both conventions with
                # its default on the same rows, unpadded.
                full = torch.ones_like(t_mask)
                default = model(input_ids=t_ids, attention_mask=full).logits
                zero_based = torch.arange(ids.shape[1]).expand_as(t_ids)
                offset = None
                for candidate in (0, pn):
                    got = model(input_ids=t_ids, attention_mask=full, position_ids=zero_based + candidate).logits
                    if torch.allclose(got, default, rtol=0, atol=1e-9 if dtype == "f64" else 1e-5):
                        offset = candidate
                        break
                if offset is None:
                    raise SystemExit("error: cannot tell how this PEFT version places position_ids after the prefix")
                extra["position_ids"] = (t_mask.cumsum(-1) - 1).clamp(min=0) + offset
            # Encoders: transformers computes the positions itself, which is what is recorded.
            captured.clear()
            if core.config.model_type in NO_CACHE:
                # The model takes no key/value cache: PEFT runs it only without a mask (which it
                # would lengthen by Pn), and the prefix then changes nothing.
                if (mask == 0).any():
                    raise SystemExit(f"error: PEFT cannot run a {core.config.model_type} prefix-tuning adapter on padded "
                                     "inputs (the model takes no cache and rejects the lengthened mask)")
                out = model(input_ids=t_ids, output_hidden_states=True, **extra)
            else:
                try:
                    out = model(input_ids=t_ids, attention_mask=t_mask, output_hidden_states=True, **extra)
                except TypeError as error:
                    if task != "SEQ_CLS":
                        raise
                    # PEFT 0.21's SEQ_CLS path for classes without past_key_values calls the
                    # backbone and feeds outputs[1] to the head, which for models without a pooler
                    # (RoBERTa, ELECTRA) is the cache: it fails. Run what it means instead: the
                    # backbone with PEFT's prefix and mask, then the model's own head module.
                    print(f"note: PEFT's SEQ_CLS forward fails on {type(core).__name__} ({error}); the logits come "
                          "from its own classifier on the backbone run with PEFT's prefix", file=sys.stderr)
                    captured.clear()
                    backbone = getattr(core, core.base_model_prefix)
                    prefix_mask = torch.ones(t_ids.shape[0], pn, dtype=t_mask.dtype)
                    hidden = backbone(input_ids=t_ids, attention_mask=torch.cat([prefix_mask, t_mask], 1),
                                      past_key_values=model.get_prompt(t_ids.shape[0]), output_hidden_states=True)
                    logits = core.classifier(hidden.last_hidden_state)
                    out = type("Output", (), {"hidden_states": hidden.hidden_states, "logits": logits})()
                    logits_by = f"{type(core).__name__}.classifier on the backbone with PEFT's prefix (PEFT's own SEQ_CLS forward fails)"
    finally:
        for handle in handles:
            handle.remove()
    if sorted(captured) != list(range(num_layers)):
        raise SystemExit(f"error: hooks saw blocks {sorted(captured)}, expected 0..{num_layers - 1}")
    data = {"input_ids": ids, "attention_mask": mask}
    if token_types is not None:
        data["token_type_ids"] = token_types
    width = 3 if num_layers > 100 else 2
    for l in range(num_layers):
        data[f"layer_{l:0{width}d}.input"], data[f"layer_{l:0{width}d}.output"] = captured[l]
    if causal or task != "FEATURE_EXTRACTION":
        data["final"] = out.hidden_states[-1].double().numpy()
        data["logits"] = out.logits.double().numpy()
    else:
        data["final"] = out.last_hidden_state.double().numpy()
        if getattr(out, "pooler_output", None) is not None:
            data["pooler_output"] = out.pooler_output.double().numpy()
    meta = {"form": "kv", "Pn": pn, "input_start": pn, "compute_dtype": dtype, "layers": num_layers, "task_type": task,
            "tool": f"transformers {transformers.__version__} + peft {peft.__version__} (prefixkit.reference)"}
    if not causal:
        meta["position_rule"] = POSITION_RULES.get(core.config.model_type, "column")
    if core.config.model_type in NO_CACHE:
        meta["prefix_ignored_by_tool"] = True
    if logits_by:
        meta["logits_by"] = logits_by
    # transformers computes rotary angles (inv_freq and cos/sin) in float32 whatever the model's
    # dtype: say so, and the verifier holds the reference to the f32 tolerances.
    if any("Rotary" in type(m).__name__ for m in core.modules()):
        meta["rope_dtype"] = "f32"
    # BLOOM and MPT compute the attention softmax in float32 whatever the model's dtype.
    if core.config.model_type in ("bloom", "mpt"):
        meta["softmax_dtype"] = "f32"
    data["meta"] = np.array(json.dumps(meta))
    return data


def stack_blocks(stack):
    """The block list of one T5/BART stack (`block` or `layers`)."""
    return stack.block if hasattr(stack, "block") else stack.layers


def seq2seq_reference(model, ids, mask, decoder_ids, dtype):
    """Runs a PEFT SEQ_2_SEQ_LM model: encoder on `ids` with `mask`, decoder on `decoder_ids`.

    Records both stacks' block inputs and outputs (`encoder.layer_LL.*`, `decoder.layer_LL.*`),
    the encoder's last hidden state (`encoder.final`), the decoder's final hidden state before
    any head rescale (`final`) and the logits. PEFT's layout (architectures.md): the encoder gets
    no prefix, decoder block i reads stored layer 2i mod L, the cross-attention part is dropped.
    """
    import torch, transformers, peft
    config = model.peft_config[model.active_adapter]
    pn = config.num_virtual_tokens
    core = model.get_base_model()
    inner = core.model if hasattr(core, "model") and hasattr(core.model, "encoder") else core
    stacks = {"encoder": stack_blocks(inner.encoder), "decoder": stack_blocks(inner.decoder)}
    captured = {}

    def hook(key):
        def record(module, args, kwargs, output):
            hidden = args[0] if args else kwargs["hidden_states"]
            out = output[0] if isinstance(output, tuple) else output
            captured[key] = (hidden.detach().double().numpy().copy(), out.detach().double().numpy().copy())
        return record

    handles = [block.register_forward_hook(hook((name, i)), with_kwargs=True)
               for name, blocks in stacks.items() for i, block in enumerate(blocks)]
    final = {}
    handles.append(inner.decoder.register_forward_hook(
        lambda m, a, o: final.__setitem__("decoder", o.last_hidden_state.detach().double().numpy().copy())))
    try:
        with torch.no_grad():
            out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                        decoder_input_ids=torch.tensor(decoder_ids), output_hidden_states=True)
    finally:
        for handle in handles:
            handle.remove()
    data = {"input_ids": ids, "attention_mask": mask, "decoder_input_ids": decoder_ids}
    for name, blocks in stacks.items():
        width = 3 if len(blocks) > 100 else 2
        for l in range(len(blocks)):
            if (name, l) not in captured:
                raise SystemExit(f"error: hooks did not see {name} block {l}")
            data[f"{name}.layer_{l:0{width}d}.input"], data[f"{name}.layer_{l:0{width}d}.output"] = captured[(name, l)]
    data["encoder.final"] = out.encoder_last_hidden_state.double().numpy()
    data["final"] = final["decoder"]
    data["logits"] = out.logits.double().numpy()
    meta = {"form": "kv", "Pn": pn, "input_start": pn, "compute_dtype": dtype, "layers": len(stacks["decoder"]),
            "encoder_layers": len(stacks["encoder"]), "task_type": "SEQ_2_SEQ_LM", "prefix_layout": "peft-seq2seq",
            "encoder_input_start": 0,
            "tool": f"transformers {transformers.__version__} + peft {peft.__version__} (prefixkit.reference)"}
    # T5's RMS norm computes its mean square in float32 whatever the model's dtype.
    if any(type(m).__name__ in ("T5LayerNorm", "MT5LayerNorm") for m in core.modules()):
        meta["norm_dtype"] = "f32"
    data["meta"] = np.array(json.dumps(meta))
    return data


def missing_tools():
    """The reference tools this Python cannot import."""
    return [name for name in TOOLS if importlib.util.find_spec(name) is None]


def default_inputs(base):
    """Two rows of 12 token ids drawn with seed 0 below the base's vocabulary size; the second
    row is left-padded by 4 (so the padding rules are exercised too)."""
    with open(os.path.join(base, "config.json")) as handle:
        config = json.load(handle)
    vocab = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    if not isinstance(vocab, int) or vocab < 2:
        raise SystemExit(f"error: {base}/config.json has no vocab_size to draw default ids from; give --ids or --text")
    rng = np.random.default_rng(0)
    ids = rng.integers(1, min(vocab, 1 << 31), size=(2, 12), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[1, :4] = 0
    pad = config.get("pad_token_id")
    ids[1, :4] = pad if isinstance(pad, int) and 0 <= pad < vocab else 0
    return ids, mask


def default_decoder_inputs(base, rows):
    """The decoder's input for an encoder-decoder: its start token, then 5 ids drawn with seed 1."""
    with open(os.path.join(base, "config.json")) as handle:
        config = json.load(handle)
    start = config.get("decoder_start_token_id")
    if not isinstance(start, int):
        start = config.get("pad_token_id") if isinstance(config.get("pad_token_id"), int) else 0
    ids = np.random.default_rng(1).integers(1, config["vocab_size"], size=(rows, 6), dtype=np.int64)
    ids[:, 0] = start
    return ids


def text_inputs(base, texts, left_pad):
    """The base's own tokenizer on `texts`, one row each, padded to the longest."""
    from transformers import AutoTokenizer
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
    except Exception as error:  # transformers raises many types here; the message says which
        raise SystemExit(f"error: {base} has no tokenizer that transformers can load for --text ({error}); give --ids")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    tokenizer.padding_side = "left" if left_pad else "right"
    encoded = tokenizer(list(texts), return_tensors="np", padding=True)
    return encoded["input_ids"].astype(np.int64), encoded["attention_mask"].astype(np.int64)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m prefixkit.reference", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the HF model directory the adapter was trained on")
    parser.add_argument("--adapter", required=True, help="the PEFT prefix-tuning adapter directory")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--ids", "--input", dest="ids",
                        help="token ids: .npy [N] or [B, N], or .npz with input_ids (+ attention_mask, decoder_input_ids)")
    source.add_argument("--text", action="append", help="a text to tokenize with the base's tokenizer (repeat for a batch)")
    parser.add_argument("--out", required=True, help="the exchange .npz to write")
    parser.add_argument("--dtype", choices=["f64", "f32"], default="f64", help="the precision the model runs in (default f64)")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"error: the reference runs transformers + PEFT, and this Python ({sys.executable}) lacks "
              f"{', '.join(missing)}: {INSTALL_HINT}", file=sys.stderr)
        return 3
    for label, path in (("--base", args.base), ("--adapter", args.adapter)):
        if not os.path.isdir(path):
            print(f"error: {label} {path} is not a directory", file=sys.stderr)
            return 3
    types = decoder_ids = None
    if args.ids is not None:
        ids, mask = load_inputs(args.ids)
        where = f"--ids {os.path.basename(args.ids)}"
        if args.ids.endswith(".npz"):
            data = np.load(args.ids, allow_pickle=False)
            if "token_type_ids" in data.files:
                types = data["token_type_ids"].astype(np.int64).reshape(ids.shape)
            if "decoder_input_ids" in data.files:
                decoder_ids = data["decoder_input_ids"].astype(np.int64)
                if decoder_ids.ndim == 1:
                    decoder_ids = np.broadcast_to(decoder_ids, (ids.shape[0], decoder_ids.shape[0])).copy()
    else:
        from peft import PeftConfig
        task = str(PeftConfig.from_pretrained(args.adapter).task_type or "CAUSAL_LM").split(".")[-1]
        if args.text:
            ids, mask = text_inputs(args.base, args.text, left_pad=task == "CAUSAL_LM")
            where = f"--text x{len(args.text)}"
        else:
            ids, mask = default_inputs(args.base)
            where = "default: 2 x 12 ids, seed 0, row 1 left-padded by 4"
        if task == "SEQ_2_SEQ_LM":
            decoder_ids = default_decoder_inputs(args.base, ids.shape[0])
            where += "; decoder: the start token + 5 ids, seed 1"
    data = reference(args.base, args.adapter, ids, mask, args.dtype, types, decoder_ids)
    meta = json.loads(str(data["meta"]))
    meta["input"] = where
    data["meta"] = np.array(json.dumps(meta))
    with open(args.out, "wb") as handle:
        np.savez(handle, **data)
    layers = sum(1 for k in data if k.endswith(".output"))
    print(f"wrote {args.out}: {ids.shape[0]} x {ids.shape[1]} tokens, {layers} layers, {args.dtype}, "
          f"transformers + PEFT ({meta['tool'].split(' (')[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
