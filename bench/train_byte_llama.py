#!/usr/bin/python3
"""bench/train_byte_llama.py — trains a byte-level Llama on this machine's C
headers, so that quantization can be judged on a model that is not in
../shared (issue 15: "judged on held-out models, larger, trained longer").

The architecture and data follow ../shared/models/bytes-c (a byte is a token;
RMSNorm, rotate-half RoPE, grouped-query attention, SwiGLU, untied head; the
C/C++ headers under /usr/include, sqlite3.h excluded, so that sqlite3.h stays
held out for evaluation) with the size and length of training given here.
The output folder (config.json, model.safetensors in bf16, train_result.json)
is what `bench/model_quality.py --model DIR --text eval.txt` judges.

Seeded: files in sorted order, windows drawn by a seeded generator, weights
initialized from the seed (MKL-DNN's float sums may still differ with the
thread count or the CPU, so a model is identified by its folder, not by the
command alone).

  /usr/bin/python3 bench/train_byte_llama.py OUT_DIR [--layers 4] [--hidden 256]
      [--ffn 768] [--heads 4] [--kv-heads 2] [--ctx 256] [--batch 16]
      [--steps 4000] [--lr 3e-3] [--seed 1] [--init DIR] [--threads 2]
      [--corpus /usr/include]
  --init DIR starts from an existing folder of the same shape (training longer).

Debian's torch 1.13 links the reference BLAS (a few GFLOP/s); every product
here goes through its MKL-DNN linear instead (some 20-80 GFLOP/s on 2 cores),
with the backward pass written out (dA = dC B^T, dB = A^T dC).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_quality as mq  # noqa: E402  (st_read, st_write)


# The differentiable MKL-DNN product lives in model_quality.py (its
# sensitivity pass needs it too).
mm_t = mq.mm_t


class Model(mq.Llama):
    """model_quality's forward pass, with every product differentiable: the
    weights are the trained tensors themselves (float32, requires_grad)."""

    def __init__(self, cfg, params):
        self.w = params
        self._shape(cfg)

    def _lin(self, name, x):
        s = x.shape
        return mm_t(x.reshape(-1, s[-1]), self.w[name]).reshape(*s[:-1], -1)

    def _bmm_t(self, a, b):
        return mm_t(a, b)

    def loss(self, ids):
        """Mean cross-entropy in nats of positions 1.. of each window."""
        lg = self.logits(ids)[:, :-1]
        return torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), ids[:, 1:].reshape(-1))


def config(a):
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": a.hidden, "intermediate_size": a.ffn,
        "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads, "head_dim": a.hidden // a.heads,
        "vocab_size": 256, "max_position_embeddings": a.ctx, "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "bfloat16",
    }


def init_params(cfg, gen):
    h, f, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    kv = cfg["num_key_value_heads"] * cfg["head_dim"]
    std, out_std = 0.02, 0.02 / math.sqrt(2 * L)
    shapes = {"model.embed_tokens.weight": ((256, h), std), "lm_head.weight": ((256, h), std),
              "model.norm.weight": ((h,), None)}
    for i in range(L):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": ((h,), None),
            p + "post_attention_layernorm.weight": ((h,), None),
            p + "self_attn.q_proj.weight": ((h, h), std),
            p + "self_attn.k_proj.weight": ((kv, h), std),
            p + "self_attn.v_proj.weight": ((kv, h), std),
            p + "self_attn.o_proj.weight": ((h, h), out_std),
            p + "mlp.gate_proj.weight": ((f, h), std),
            p + "mlp.up_proj.weight": ((f, h), std),
            p + "mlp.down_proj.weight": ((h, f), out_std),
        })
    out = {}
    for name in sorted(shapes):
        shape, s = shapes[name]
        out[name] = torch.ones(shape) if s is None else torch.randn(shape, generator=gen) * s
    return out


def corpus(top="/usr/include"):
    """The bytes of every regular file under `top` whose name ends in .h, .hh,
    .hpp or .hxx, sorted by path, sqlite3.h excluded, joined by newlines."""
    paths = []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for fn in sorted(files):
            if fn == "sqlite3.h" or not fn.endswith((".h", ".hh", ".hpp", ".hxx")):
                continue
            p = os.path.join(root, fn)
            if os.path.isfile(p) and not os.path.islink(p):
                paths.append(p)
    parts = []
    for p in sorted(paths):
        with open(p, "rb") as f:
            parts.append(f.read())
    return np.frombuffer(b"\n".join(parts), dtype=np.uint8), len(paths)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--init", help="start from this folder (same shape)")
    ap.add_argument("--corpus", default="/usr/include", help="the headers' folder")
    a = ap.parse_args()
    if os.path.exists(os.path.join(a.out, "model.safetensors")):
        raise SystemExit(f"{a.out}/model.safetensors exists; not overwriting it")
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    if a.init:
        with open(os.path.join(a.init, "config.json")) as f:
            cfg = json.load(f)
        params = {k: torch.from_numpy(v.copy()) for k, v in
                  mq.st_read(os.path.join(a.init, "model.safetensors")).items()}
    else:
        cfg = config(a)
        params = init_params(cfg, gen)
    for t in params.values():
        t.requires_grad_(True)
    model = Model(cfg, params)
    data, nfiles = corpus(a.corpus)
    ctx = cfg["max_position_embeddings"]
    if len(data) < 2 * ctx:
        raise SystemExit(f"{a.corpus}: {len(data)} bytes of headers, fewer than two windows of {ctx}")
    decay = [t for t in params.values() if t.dim() == 2]
    flat = [t for t in params.values() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": flat, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    rng = np.random.default_rng(a.seed)
    t0, ema = time.time(), None
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / a.warmup) * 0.5 * (1 + math.cos(math.pi * step / a.steps))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.integers(0, len(data) - ctx, size=a.batch)
        ids = torch.as_tensor(np.stack([data[s:s + ctx] for s in starts]).astype(np.int64))
        loss = model.loss(ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        ema = float(loss) if ema is None else 0.98 * ema + 0.02 * float(loss)
        if step % 50 == 0 or step == a.steps - 1:
            el = time.time() - t0
            print(f"step {step}/{a.steps} loss {ema:.4f} nats ({ema / math.log(2):.3f} bits) "
                  f"lr {lr:.2e} {el:.0f} s ({el / (step + 1):.2f} s/step)", flush=True)
    os.makedirs(a.out, exist_ok=True)
    w = {k: v.detach().numpy() for k, v in params.items()}
    # bf16 as bytes-c is stored: round to nearest even, then write F32 values
    # that are exactly bf16 (qtf-convert and model_quality read either).
    for k in w:
        u = w[k].astype(np.float32).view(np.uint32).astype(np.uint64)
        u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16).astype(np.uint32)
        w[k] = u.view(np.float32)
    # written aside and renamed, so that an interrupted write leaves no model
    final = os.path.join(a.out, "model.safetensors")
    mq.st_write(final + ".tmp", w)
    os.replace(final + ".tmp", final)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(a.out, "train_result.json"), "w") as f:
        json.dump({"training": {"steps": a.steps, "tokens": a.steps * a.batch * ctx,
                                "init": a.init, "seed": a.seed, "lr": a.lr,
                                "final_train_loss_nats": ema, "files": nfiles,
                                "corpus": a.corpus, "corpus_bytes": int(len(data)),
                                "seconds": round(time.time() - t0)}}, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
