#!/usr/bin/python3
"""bench/model_quality.py — model-level quality of QTF encodings (issue 15).

A pure-torch CPU forward pass of the Llama architecture (RMSNorm, rotate-half
RoPE as Hugging Face's LlamaForCausalLM, grouped-query attention, SwiGLU,
tied or untied head) reading weights from a safetensors file, so that an
encoding is judged by what users care about: the model's loss on text it was
not calibrated on.

Models and protocols (both need ../shared; the script exits 77 without it):
  bytes-c    ../shared/models/bytes-c (a byte is a token). Evaluation exactly
             as its train_result.json: eval.txt bytes [65536:], non-overlapping
             windows of 256 bytes, positions 1..255 of each window predicted
             from the ones before; mean cross-entropy in bits per byte.
             Importance calibrated on eval.txt bytes [0, 65536) only.
  aidreams   ../shared/checkpoints/aidreams-llama-260k-hf with
             ../shared/gguf/text.tok512.i32: calibration on tokens [0, 1000),
             evaluation on tokens [1000:], non-overlapping windows of 128 (its
             context), positions 1.. of each window predicted; bits per token.

  DIR        any Hugging Face Llama folder (config.json, model.safetensors or
             sharded with model.safetensors.index.json), with --text FILE (a
             byte-level model: a byte is a token; bits per byte) or --tokens
             FILE (int32 little-endian ids; bits per token): the first --calib
             tokens calibrate (default 65536 bytes / 1000 tokens), the rest is
             evaluated in non-overlapping windows of --ctx (default the
             config's max_position_embeddings). This is how a model that is
             not in ../shared is judged, e.g. a held-out larger model.

Quantization goes through the built tools: the model is converted with
`qtf-convert --all-layers` (every matrix, embeddings and head included) to a
.qtf, decoded back with `qtf-convert x.qtf y.safetensors -e f32`, and
evaluated. Bits per weight count every float tensor of the model (norms too):
`tensor bpw` is the tensor bytes as stored (after zstd) over the element
count, as qtf-convert's closing line reports it; `file bpw` is the whole .qtf (headers, index,
metadata, checksums, embedded config) over the element count.

Importance: E[x_j^2] of each linear layer's input column j over the
calibration text, written as a safetensors file of 1-D F32 vectors named like
the weights (what `qtf-convert --importance` reads). A tied head's input
statistics go to the embedding it shares; an untied embedding gets none (its
input is one-hot: every column of a row is used alike). With them, unless
--no-sensitivity, one value per weight matrix, NAME.sensitivity (F32, shape
[1]): sum_ij F_ij W_ij^2, F the empirical Fisher information of the loss
(Llama.sensitivity), which --target-bpw weighs each tensor's error by.

Usage:
  /usr/bin/python3 bench/model_quality.py baseline [--model bytes-c|aidreams|DIR]
        [--text FILE | --tokens FILE] [--calib N] [--ctx N]
  /usr/bin/python3 bench/model_quality.py importance --model M [--no-sensitivity] OUT.safetensors
  /usr/bin/python3 bench/model_quality.py eval --model M SPEC [SPEC...]
        [--importance FILE [--both]] [--ref BASELINE] [--args=EXTRA] [--kld]
    SPEC is an --encoding, or budget:X for --target-bpw X. Prints one
    markdown row per SPEC (and per with/without importance with --both):
    | spec | importance | tensor bpw | file bpw | bits | delta % ± CI |.
    Without --ref the unquantized model is evaluated first, window by
    window, and each delta gets its 95% confidence interval (paired by
    window: the mean per-window difference ± t(0.975, n-1) standard errors).
    --ref gives the unquantized figure when already measured (no interval
    then); --args passes extra qtf-convert arguments (e.g.
    --args=--fallback=int8 for aidreams, whose ffn_down rows of 172 take no
    group of 32). Paired differences between quantized files, in points of
    percent with their 95% intervals: --both adds "with importance -
    without" per SPEC; --vs SPEC0 adds every SPEC minus SPEC0 (evaluated
    first). Two files whose interval contains 0 are not told apart by the
    text. --kld adds a column and the same pairs for the divergence from
    the unquantized model: the mean Kullback-Leibler divergence of each
    position's next-token distribution, in percent of the unquantized bits
    (llama-perplexity --kl-divergence, per byte). It is never negative and
    has no first-order term: a model that is overconfident on the text
    (bytes-c, whose loss falls 0.20% when its logits are scaled by 0.99)
    loses bits per byte less, or gains, from an error that shrinks its
    logits, which the divergence counts as error.
  /usr/bin/python3 bench/model_quality.py noise --model M --importance FILE
        --budget X [--seeds 1,2,3,4] [--ref BASELINE]
    The noise floor of a comparison: takes the per-tensor predicted errors
    of `qtf-convert -n --target-bpw X` and adds Gaussian noise of exactly
    that expected importance-weighted error to each tensor (one row per
    seed). Two files with the same predicted error can differ this much.
  /usr/bin/python3 bench/model_quality.py rescale --model M --importance FILE
        --alpha A [--parts ln,vo,ud,head] SPEC [SPEC...] [--ref BASELINE]
    AWQ-style equivalent rescaling (issue 15 item 4) tried before
    quantization: input column j of each linear layer is multiplied by
    s_j = E[x_j^2]^(A/2) (normalized so that max*min = 1) and the producer
    divided by it: the RMSNorm weight before q/k/v (ln) and gate/up (ln),
    v_proj's rows for o_proj (vo; one scale per KV head and dimension),
    up_proj's rows for down_proj (ud), the final norm for an untied head
    (head). The model computes the same function before quantization; the
    importance is rescaled alike (E[x_j^2] / s_j^2). Each SPEC is then
    converted with that importance and evaluated.
Options: --build DIR (default build/), --tmp DIR (default a fresh temp dir;
a given one keeps each SPEC's per-window figures as SPEC[-imp].windows.npy,
to pair files of different runs).
Use /usr/bin/python3 (Debian python3-torch), not a pyenv python.
"""
import argparse
import json
import math
import os
import re
import shlex
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, "..", "shared")

MODELS = {
    "bytes-c": {
        "dir": os.path.join(SHARED, "models", "bytes-c"),
        "text": os.path.join(SHARED, "models", "bytes-c", "eval.txt"),
        "calib": 65536,
        "ctx": 256,
    },
    "aidreams": {
        "dir": os.path.join(SHARED, "checkpoints", "aidreams-llama-260k-hf"),
        "tokens": os.path.join(SHARED, "gguf", "text.tok512.i32"),
        "calib": 1000,
        "ctx": 128,
    },
}


def model_spec(args):
    """The model of --model: a name above, or a Hugging Face Llama folder
    (config.json, model.safetensors or model.safetensors.index.json) with
    --text (byte-level: a byte is a token) or --tokens (int32 ids)."""
    if args.model in MODELS:
        m = dict(MODELS[args.model])
    else:
        if not os.path.isfile(os.path.join(args.model, "config.json")):
            raise SystemExit(f"--model {args.model}: neither {'/'.join(sorted(MODELS))} nor a "
                             f"folder with a config.json")
        if bool(args.text) == bool(args.tokens):
            raise SystemExit(f"--model {args.model}: give exactly one of --text FILE (a byte "
                             f"is a token) or --tokens FILE (int32 little-endian ids)")
        m = {"dir": args.model}
        if args.text:
            m["text"] = args.text
        else:
            m["tokens"] = args.tokens
        m["calib"] = 65536 if args.text else 1000
        with open(os.path.join(args.model, "config.json")) as f:
            m["ctx"] = int(json.load(f)["max_position_embeddings"])
    if args.calib is not None:
        m["calib"] = args.calib
    if args.ctx is not None:
        m["ctx"] = args.ctx
    m["unit"] = "bits/byte" if "text" in m else "bits/token"
    return m


# ---------------------------------------------------------------- safetensors

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "F64": np.float64}
_MAX_HEADER = 100 << 20


def st_read(path):
    """Reads every floating tensor of a safetensors file as float32 numpy
    arrays; refuses a malformed header rather than guessing."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, expected at least 8")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} exceeds the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor '{name}': dtype {dt} not supported here")
        lo, hi = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        item = np.dtype(_ST_DTYPES[dt]).itemsize
        if not (0 <= lo <= hi <= len(data) - base) or hi - lo != count * item:
            raise ValueError(f"{path}: tensor '{name}': offsets [{lo}, {hi}) do not hold "
                             f"{count} x {item} bytes")
        a = np.frombuffer(data, dtype=_ST_DTYPES[dt], count=count, offset=base + lo)
        if dt == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[name] = a.astype(np.float32).reshape(shape)
    return out


def st_write(path, tensors):
    """Writes {name: float32 numpy array} as a safetensors file (sorted names)."""
    header, blobs, at = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- the model

def _mm_t(x, w_mkl):
    """x @ w.T for 2-D float32 x, w already an MKL-DNN tensor. Debian's torch
    1.13 links the reference BLAS (about 0.3 GFLOP/s); its MKL-DNN linear is
    some 40 times faster, and accumulates in float32 as well."""
    return torch._C._nn.mkldnn_linear(x.contiguous().to_mkldnn(), w_mkl).to_dense()


def _bmm_t(a, b):
    """a @ b.transpose(-1, -2) for [N, T, K] tensors, one MKL-DNN call per slice."""
    return torch.stack([_mm_t(a[i], b[i].contiguous().to_mkldnn()) for i in range(a.shape[0])])


def _mm_dense(a, b):
    """a @ b.T for dense float32 a, b: 2-D, or batched (one product per slice)."""
    return _mm_t(a, b.contiguous().to_mkldnn()) if a.dim() == 2 else _bmm_t(a, b)


class MatMulT(torch.autograd.Function):
    """C = A @ B^T for 2-D A [M, K], B [N, K], or batched [S, M, K] x [S, N, K],
    through MKL-DNN (see _mm_t), with its gradients: torch's own matmul and
    its backward pass run on the reference BLAS."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _mm_dense(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = _mm_dense(g, b.transpose(-1, -2))                      # dA = dC B
        gb = _mm_dense(g.transpose(-1, -2), a.transpose(-1, -2))    # dB = dC^T A
        return ga, gb


def mm_t(a, b):
    """a @ b.T (2-D or batched), differentiable."""
    return MatMulT.apply(a, b)


class Llama:
    """Llama forward pass in float32 (the weights as stored, upcast)."""

    def __init__(self, cfg, weights):
        self.w = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
        self.mkl = {k: v.contiguous().to_mkldnn() for k, v in self.w.items() if v.dim() == 2}
        self._shape(cfg)

    def _shape(self, cfg):
        self.cfg = cfg
        self.h = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads", self.nh)
        self.hd = cfg.get("head_dim") or self.h // self.nh
        self.eps = cfg["rms_norm_eps"]
        self.theta = cfg.get("rope_theta", 10000.0)
        self.layers = cfg["num_hidden_layers"]
        self.head = "lm_head.weight" if "lm_head.weight" in self.w else "model.embed_tokens.weight"
        self.stats = None  # name -> [sum of x^2 per column, count]
        self._sens = None  # sensitivity(): name -> sum of g^2 per output

    def _rms(self, x, w):
        v = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(v + self.eps) * w

    def _lin(self, name, x):
        if self.stats is not None:
            flat = x.detach().reshape(-1, x.shape[-1]).double()
            s = self.stats.setdefault(name, [torch.zeros(x.shape[-1], dtype=torch.float64), 0])
            s[0] += flat.pow(2).sum(0)
            s[1] += flat.shape[0]
        shape = x.shape
        if self._sens is not None:      # sensitivity(): self.stats holds the inputs' x^2
            y = mm_t(x.reshape(-1, shape[-1]), self.w[name])

            def keep(g, name=name):
                sg = self._sens.setdefault(name, torch.zeros(g.shape[-1], dtype=torch.float64))
                sg += g.double().pow(2).sum(0)
            y.register_hook(keep)
            return y.reshape(*shape[:-1], y.shape[-1])
        y = _mm_t(x.reshape(-1, shape[-1]), self.mkl[name])
        return y.reshape(*shape[:-1], y.shape[-1])

    def _bmm_t(self, a, b):
        return mm_t(a, b) if self._sens is not None else _bmm_t(a, b)

    def _rope(self, T):
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        t = torch.arange(T, dtype=torch.float32)
        f = torch.outer(t, inv)
        emb = torch.cat((f, f), dim=-1)
        return emb.cos(), emb.sin()

    @staticmethod
    def _rot(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def logits(self, ids):
        """ids: LongTensor [B, T] -> logits [B, T, V]."""
        B, T = ids.shape
        x = self.w["model.embed_tokens.weight"][ids]
        if self._sens is not None:       # sensitivity(): the gradient at the lookup
            x = x.detach().requires_grad_(True)
            self._emb_out = x
        cos, sin = self._rope(T)
        mask = torch.full((T, T), float("-inf")).triu(1)
        rep = self.nh // self.nkv
        for i in range(self.layers):
            p = f"model.layers.{i}."
            hn = self._rms(x, self.w[p + "input_layernorm.weight"])
            q = self._lin(p + "self_attn.q_proj.weight", hn).view(B, T, self.nh, self.hd).transpose(1, 2)
            k = self._lin(p + "self_attn.k_proj.weight", hn).view(B, T, self.nkv, self.hd).transpose(1, 2)
            v = self._lin(p + "self_attn.v_proj.weight", hn).view(B, T, self.nkv, self.hd).transpose(1, 2)
            q = q * cos + self._rot(q) * sin
            k = k * cos + self._rot(k) * sin
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            a = self._bmm_t(q.reshape(B * self.nh, T, self.hd), k.reshape(B * self.nh, T, self.hd))
            a = a.view(B, self.nh, T, T) / math.sqrt(self.hd) + mask
            a = torch.softmax(a, dim=-1).reshape(B * self.nh, T, T)
            vt = v.reshape(B * self.nh, T, self.hd).transpose(1, 2)
            a = self._bmm_t(a, vt).view(B, self.nh, T, self.hd)
            a = a.transpose(1, 2).reshape(B, T, self.nh * self.hd)
            x = x + self._lin(p + "self_attn.o_proj.weight", a)
            hn = self._rms(x, self.w[p + "post_attention_layernorm.weight"])
            g = self._lin(p + "mlp.gate_proj.weight", hn)
            u = self._lin(p + "mlp.up_proj.weight", hn)
            x = x + self._lin(p + "mlp.down_proj.weight", torch.nn.functional.silu(g) * u)
        x = self._rms(x, self.w["model.norm.weight"])
        return self._lin(self.head, x)

    def window_bits(self, windows, batch=16, ref=None, keep=None):
        """Mean cross-entropy in bits of positions 1.. of each window (windows
        of one length), one figure per window. With `keep` (a list) the
        log-probabilities of every batch are appended to it; with `ref` (such
        a list, of the same windows) returns (bits, kld): kld the mean
        Kullback-Leibler divergence per position, in bits, of this model's
        next-token distribution from ref's, per window."""
        out, kld = [], []
        with torch.no_grad():
            for k, s in enumerate(range(0, len(windows), batch)):
                ids = torch.as_tensor(np.stack(windows[s:s + batch]), dtype=torch.long)
                lg = self.logits(ids)[:, :-1].float()
                tgt = ids[:, 1:]
                ce = torch.nn.functional.cross_entropy(
                    lg.reshape(-1, lg.shape[-1]), tgt.reshape(-1), reduction="none")
                out.append(ce.view(tgt.shape).double().sum(1).numpy())
                if keep is not None or ref is not None:
                    lp = torch.log_softmax(lg, dim=-1)
                    if keep is not None:
                        keep.append(lp)
                    if ref is not None:
                        r = ref[k]
                        kl = (r.exp() * (r - lp)).sum(-1)
                        kld.append(kl.double().sum(1).numpy())
        n = (len(windows[0]) - 1) * math.log(2)
        bits = np.concatenate(out) / n
        return bits if ref is None else (bits, np.concatenate(kld) / n)

    def mean_bits(self, windows, batch=16):
        """Mean cross-entropy in bits of positions 1.. of each window."""
        return float(self.window_bits(windows, batch).mean())

    def importance(self, windows, batch=16):
        """{weight name: float32 E[x^2] per input column} over the windows."""
        self.stats = {}
        with torch.no_grad():
            for _, ws in sorted(group_by_length(windows).items()):
                for s in range(0, len(ws), batch):
                    self.logits(torch.as_tensor(np.stack(ws[s:s + batch]), dtype=torch.long))
        st, self.stats = self.stats, None
        return {k: (v[0] / max(v[1], 1)).float().numpy() for k, v in st.items()}

    def sensitivity(self, windows, batch=16):
        """({weight name: sum_ij F_ij W_ij^2}, the importance() vectors), over
        the windows in one pass: F the empirical Fisher information of the
        summed cross-entropy (nats) at each position, in its K-FAC form for a
        linear layer, F_ij = E[g_i^2] E[x_j^2] (g the loss's gradient at
        output i, x the input, both averaged over positions), and for the
        embedding's row r and column j the mean over positions of
        1[token = r] g_j^2. Second order, the loss per position rises by
        about half the sensitivity times the tensor's relative squared
        error, if the error spreads as its weights do (qtf-convert's
        allocation weighs each tensor's predicted error by a power of it;
        convert/target.h)."""
        grads = {}
        emb_name = "model.embed_tokens.weight"
        emb = self.w[emb_name]
        emb_sum, n = 0.0, 0
        self._sens, self.stats = grads, {}
        try:
            for _, ws in sorted(group_by_length(windows).items()):
                for s in range(0, len(ws), batch):
                    ids = torch.as_tensor(np.stack(ws[s:s + batch]), dtype=torch.long)
                    lg = self.logits(ids)[:, :-1]
                    loss = torch.nn.functional.cross_entropy(
                        lg.reshape(-1, lg.shape[-1]), ids[:, 1:].reshape(-1), reduction="sum")
                    loss.backward()
                    g = self._emb_out.grad.double()
                    emb_sum += float((g.pow(2) * emb[ids].double().pow(2)).sum())
                    n += ids.numel()
        finally:
            st, self._sens, self._emb_out, self.stats = self.stats, None, None, None
        x2 = {k: v[0] / max(v[1], 1) for k, v in st.items()}
        out = {}
        for name, sg in grads.items():
            out[name] = float((sg / n) @ self.w[name].double().pow(2) @ x2[name])
        # a tied head adds its use as the head to its use as the embedding
        out[emb_name] = out.get(emb_name, 0.0) + emb_sum / n
        return out, {k: v.float().numpy() for k, v in x2.items()}


# ---------------------------------------------------------------- data

def split_windows(seq, n, keep_tail=False):
    """Non-overlapping full windows of n; a shorter tail is dropped (as the
    bytes-c baseline in train_result.json was measured: this reproduces it to
    1e-8 bits per byte)."""
    out = [seq[i:i + n] for i in range(0, len(seq) - n + 1, n)]
    tail = len(seq) % n
    if keep_tail and tail >= 2:
        out.append(seq[len(seq) - tail:])
    return out


def model_data(model):
    """(calibration windows, evaluation windows) of the model's protocol:
    the first `calib` tokens calibrate, the rest is evaluated in
    non-overlapping windows of `ctx`."""
    m = MODELS[model]
    if "text" in m:
        with open(m["text"], "rb") as f:
            toks = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
    else:
        with open(m["tokens"], "rb") as f:
            toks = np.frombuffer(f.read(), dtype="<i4").astype(np.int64)
    ctx, n = m["ctx"], m["calib"]
    if len(toks) < n + 2 * ctx:
        raise SystemExit(f"{m.get('text') or m.get('tokens')}: {len(toks)} tokens, fewer than "
                         f"the {n} calibration tokens and two windows of {ctx}")
    vocab = load_config(model)["vocab_size"]
    if toks.min() < 0 or toks.max() >= vocab:
        raise SystemExit(f"token ids outside the vocabulary of {vocab}")
    cal, ev = toks[:n], toks[n:]
    # Calibration statistics use every token, the tail included.
    return split_windows(cal, ctx, keep_tail=True), split_windows(ev, ctx)


def group_by_length(windows):
    """Windows batched only with windows of the same length."""
    by = {}
    for w in windows:
        by.setdefault(len(w), []).append(w)
    return by


def evaluate(model_obj, windows):
    total, count = 0.0, 0
    for n, ws in sorted(group_by_length(windows).items()):
        if n < 2:
            continue
        total += model_obj.mean_bits(ws) * len(ws) * (n - 1)
        count += len(ws) * (n - 1)
    return total / count


def load_config(model):
    with open(os.path.join(MODELS[model]["dir"], "config.json")) as f:
        return json.load(f)


def read_weights(model):
    """Every tensor of the model: model.safetensors, or the shards that
    model.safetensors.index.json names."""
    d = MODELS[model]["dir"]
    one = os.path.join(d, "model.safetensors")
    if os.path.isfile(one):
        return st_read(one)
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for sh in shards:
        out.update(st_read(os.path.join(d, os.path.basename(sh))))
    return out


# ---------------------------------------------------------------- quantization

def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({p.returncode}):\n{p.stderr}{p.stdout}")
    return p.stdout + p.stderr


def file_tag(spec, importance):
    """The file name stem of a SPEC's outputs in --tmp."""
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", spec) + ("-imp" if importance else "")


def quantize(args, model, spec, importance, tmp, extra=()):
    """Converts the model with `spec` and returns (decoded weights, tensor
    bpw, file bpw, the plan text)."""
    conv = os.path.join(args.build, "convert", "qtf-convert")
    tag = file_tag(spec, importance)
    q = os.path.join(tmp, tag + ".qtf")
    out = os.path.join(tmp, tag + ".safetensors")
    cmd = [conv, "-q", "--all-layers"]
    if spec.startswith("budget:"):
        cmd += ["--target-bpw", spec.split(":", 1)[1]]
    else:
        cmd += ["-e", spec]
    if importance:
        cmd += ["--importance", importance]
    # --target-ladder in --args is for the budget specs; a uniform SPEC in the
    # same row set (e.g. --vs q3_k) converts without it.
    cmd += [a for a in extra if spec.startswith("budget:") or not a.startswith("--target-ladder")]
    plan = run(cmd + ["-n", MODELS[model]["dir"]])
    # without -q: the closing line gives the bits/weight of the tensor bytes
    # as stored (after zstd), where the plan counts a zstd encoding's layout
    done = run([c for c in cmd if c != "-q"] + [MODELS[model]["dir"], q])
    run([conv, "-q", q, out, "-e", "f32"])
    w = st_read(out)
    m = re.search(r"total: \d+ tensors, (\d+) elements", plan)
    s = re.search(r", ([\d.]+) bits/weight, [\d.]+ s", done)
    if not m or not s:
        raise RuntimeError("no total line in the plan or no summary line:\n" + plan + done)
    elements = int(m.group(1))
    file_bpw = os.path.getsize(q) * 8.0 / elements
    for p in (q, out):
        os.unlink(p)
    return w, float(s.group(1)), file_bpw, plan


def cmd_baseline(args):
    cfg = load_config(args.model)
    cal, ev = model_data(args.model)
    m = Llama(cfg, read_weights(args.model))
    bits = evaluate(m, ev)
    print(f"{args.model}: unquantized {bits:.10f} {MODELS[args.model]['unit']} "
          f"({len(ev)} windows)")
    if args.model == "bytes-c":
        with open(os.path.join(MODELS["bytes-c"]["dir"], "train_result.json")) as f:
            ref = json.load(f)["baseline"]["bits_per_byte"]
        print(f"train_result.json baseline {ref:.10f}, difference {bits - ref:+.3e}")
    return bits


def cmd_importance(args):
    cfg = load_config(args.model)
    cal, _ = model_data(args.model)
    m = Llama(cfg, read_weights(args.model))
    # A tied head's statistics land under the embedding's name by themselves.
    n_sens = 0
    if args.no_sensitivity:
        imp = m.importance(cal)
    else:   # one pass gives both
        sens, imp = m.sensitivity(cal)
        for name, v in sens.items():
            imp[name + ".sensitivity"] = np.array([v], dtype=np.float32)
        n_sens = len(sens)
    st_write(args.out, imp)
    print(f"wrote {args.out}: {len(imp) - n_sens} vectors and {n_sens} sensitivities from "
          f"{sum(len(w) for w in cal)} calibration tokens")


def paired(a, b, ref):
    """(mean of a - b, half-width of its 95% confidence interval), in percent
    of ref: per-window figures of two models on the same windows, so that
    what the windows share (their difficulty) cancels. The windows are
    consecutive pieces of one text, taken as independent draws."""
    d = (np.asarray(a) - np.asarray(b)) * (100.0 / ref)
    # Student's t quantile for n - 1 degrees of freedom (Cornish-Fisher
    # expansion around z = 1.96: within 1% from 3 degrees up, to 3 decimals
    # from 10): it matters for aidreams' 16 windows (2.131 instead of 1.96).
    z, df = 1.959964, len(d) - 1
    t = (z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
         + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * df ** 3))
    return float(d.mean()), t * float(d.std(ddof=1)) / math.sqrt(len(d))


def cmd_eval(args, specs=None):
    cfg = load_config(args.model)
    _, ev = model_data(args.model)
    # Without --ref the unquantized model is evaluated here, window by window,
    # so that every row's delta gets a confidence interval.
    # With --kld the unquantized model's log-probabilities are kept (the
    # reference of every file's divergence; its bits are then measured too).
    keep = [] if args.kld else None
    base = None
    if args.ref is None or keep is not None:
        base = Llama(cfg, read_weights(args.model)).window_bits(ev, keep=keep)
    ref = args.ref if args.ref is not None else float(base.mean())
    rows, per, per_kl = [], {}, {}
    tmp = args.tmp or tempfile.mkdtemp(prefix="qtf-mq-")
    extra = shlex.split(args.args) if args.args else []
    imps = [None] if not args.importance else ([None, args.importance] if args.both else [args.importance])
    todo = list(specs or args.specs)
    if args.vs and args.vs not in todo:
        todo.insert(0, args.vs)
    for spec in todo:
        for imp in imps:
            w, tbpw, fbpw, _ = quantize(args, args.model, spec, imp, tmp, extra)
            wb = Llama(cfg, w).window_bits(ev, ref=keep)
            kl = None
            if keep is not None:
                wb, kl = wb
                per_kl[spec, bool(imp)] = kl
            per[spec, bool(imp)] = wb
            if args.tmp:    # kept for pairing files of different runs (np.load, paired)
                np.save(os.path.join(tmp, file_tag(spec, imp) + ".windows.npy"), wb)
                if kl is not None:
                    np.save(os.path.join(tmp, file_tag(spec, imp) + ".kld.npy"), kl)
            bits = float(wb.mean())
            d = 100.0 * (bits - ref) / ref
            ci = "" if base is None else f" ± {paired(wb, base, ref)[1]:.3f}"
            rows.append((spec, bool(imp), tbpw, fbpw, bits, d))
            kcol = "" if kl is None else (f" {100.0 * kl.mean() / ref:.3f}% ± "
                                          f"{paired(kl, np.zeros_like(kl), ref)[1]:.3f} |")
            print(f"| {spec} | {'yes' if imp else 'no'} | {tbpw:.3f} | {fbpw:.3f} | {bits:.5f} | "
                  f"{d:+.3f}%{ci} |{kcol}", flush=True)
    # Differences between two quantized files, paired window by window: far
    # tighter than the difference of two deltas with their own intervals.
    pairs = []
    if args.both:
        pairs += [(f"{spec}: with importance - without", (spec, True), (spec, False))
                  for spec in todo]
    if args.vs:
        pairs += [(f"{spec} ({'with' if imp else 'without'} importance) - {args.vs}",
                   (spec, bool(imp)), (args.vs, bool(imp)))
                  for spec in todo if spec != args.vs for imp in imps]
    # With --kld the same differences in divergence from the unquantized model.
    for what, table in (("", per), ("divergence: ", per_kl)):
        if not table:
            continue
        for label, a, b in pairs:
            m, h = paired(table[a], table[b], ref)
            verdict = "lower" if m + h < 0 else "higher" if m - h > 0 else "no difference at 95%"
            print(f"| {what}{label} | {m:+.3f} ± {h:.3f} points | {verdict} |", flush=True)
    return ref, rows


def plan_errors(args, spec_args):
    """{tensor: predicted error} of qtf-convert -n's allocation table."""
    conv = os.path.join(args.build, "convert", "qtf-convert")
    out = run([conv, "-n", "--all-layers"] + spec_args + [MODELS[args.model]["dir"]])
    errs, in_table = {}, False
    for line in out.splitlines():
        if line.startswith("tensor (--target allocation)"):
            in_table = True
        elif line.startswith("target: budget"):
            break
        elif in_table:
            f = line.split()
            errs[f[0]] = float(f[4])   # name, encoding, bytes, bpw, error, floor
    if not errs:
        raise RuntimeError("no allocation table in:\n" + out)
    return errs


def cmd_noise(args):
    cfg = load_config(args.model)
    _, ev = model_data(args.model)
    w0 = read_weights(args.model)
    imp = st_read(args.importance)
    ref = args.ref if args.ref is not None else evaluate(Llama(cfg, w0), ev)
    errs = plan_errors(args, ["--target-bpw", str(args.budget), "--importance", args.importance])
    for seed in [int(x) for x in args.seeds.split(",")]:
        rng = np.random.default_rng(seed)
        w = dict(w0)
        for name, e in errs.items():
            v = w0[name].astype(np.float64)
            a = imp[name].astype(np.float64) if name in imp else np.ones(v.shape[1])
            energy = float((v * v * a[None, :]).sum())
            sigma = math.sqrt(e * energy / (v.shape[0] * a.sum()))
            w[name] = (v + rng.normal(0.0, sigma, v.shape)).astype(np.float32)
        bits = evaluate(Llama(cfg, w), ev)
        print(f"| noise of budget:{args.budget}'s predicted errors | seed {seed} | {bits:.5f} | "
              f"{100.0 * (bits - ref) / ref:+.3f}% |", flush=True)


def rescaled(cfg, w, imp, alpha, parts):
    """AWQ-style rescaling (see `rescale` above): (weights, importance)."""
    w = {k: v.copy() for k, v in w.items()}
    imp = {k: v.copy() for k, v in imp.items()}
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or cfg["hidden_size"] // nh

    def scale(v):
        s = np.power(np.maximum(v.astype(np.float64), 1e-12), alpha / 2)
        return (s / math.sqrt(s.max() * s.min())).astype(np.float32)

    def columns(names, s):
        for n in names:
            w[n] = w[n] * s[None, :]
            imp[n] = imp[n] / (s * s)

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        if "ln" in parts:
            for norm, names in (("input_layernorm", ["self_attn.q_proj", "self_attn.k_proj",
                                                     "self_attn.v_proj"]),
                                ("post_attention_layernorm", ["mlp.gate_proj", "mlp.up_proj"])):
                names = [p + n + ".weight" for n in names]
                s = scale(imp[names[0]])
                w[p + norm + ".weight"] = w[p + norm + ".weight"] / s
                columns(names, s)
        if "vo" in parts:
            o = p + "self_attn.o_proj.weight"
            s_kv = scale(imp[o].reshape(nkv, nh // nkv, hd).mean(1).reshape(-1))
            w[p + "self_attn.v_proj.weight"] = w[p + "self_attn.v_proj.weight"] / s_kv[:, None]
            columns([o], np.repeat(s_kv.reshape(nkv, 1, hd), nh // nkv, 1).reshape(-1))
        if "ud" in parts:
            d = p + "mlp.down_proj.weight"
            s = scale(imp[d])
            w[p + "mlp.up_proj.weight"] = w[p + "mlp.up_proj.weight"] / s[:, None]
            columns([d], s)
    if "head" in parts and "lm_head.weight" in w:
        s = scale(imp["lm_head.weight"])
        w["model.norm.weight"] = w["model.norm.weight"] / s
        columns(["lm_head.weight"], s)
    return w, imp


def cmd_rescale(args):
    cfg = load_config(args.model)
    _, ev = model_data(args.model)
    src = MODELS[args.model]["dir"]
    w, imp = rescaled(cfg, read_weights(args.model), st_read(args.importance),
                      args.alpha, args.parts.split(","))
    ref = args.ref if args.ref is not None else evaluate(Llama(cfg, read_weights(args.model)), ev)
    bits = evaluate(Llama(cfg, w), ev)
    print(f"rescaled, unquantized: {bits:.5f} ({100.0 * (bits - ref) / ref:+.4f}%)", flush=True)
    tmp = args.tmp or tempfile.mkdtemp(prefix="qtf-mq-")
    folder = os.path.join(tmp, "rescaled")
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(src):    # config and eval text: copies (qtf-convert embeds no link)
        if f != "model.safetensors" and os.path.isfile(os.path.join(src, f)):
            with open(os.path.join(src, f), "rb") as a, open(os.path.join(folder, f), "wb") as b:
                b.write(a.read())
    st_write(os.path.join(folder, "model.safetensors"), w)
    st_write(os.path.join(folder, "importance.safetensors"), imp)
    MODELS[args.model] = dict(MODELS[args.model], dir=folder)
    for spec in args.specs:
        wq, tbpw, fbpw, _ = quantize(args, args.model, spec,
                                     os.path.join(folder, "importance.safetensors"), tmp)
        bits = evaluate(Llama(cfg, wq), ev)
        print(f"| {spec}, rescaled alpha={args.alpha} {args.parts} | yes | {tbpw:.3f} | "
              f"{fbpw:.3f} | {bits:.5f} | {100.0 * (bits - ref) / ref:+.3f}% |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["baseline", "importance", "eval", "noise", "rescale"])
    ap.add_argument("rest", nargs="*")
    ap.add_argument("--model", default="bytes-c",
                    help="bytes-c, aidreams, or a Hugging Face Llama folder (with --text or --tokens)")
    ap.add_argument("--text", default=None, help="a folder model: its text, a byte is a token")
    ap.add_argument("--tokens", default=None, help="a folder model: its token ids (int32 LE)")
    ap.add_argument("--calib", type=int, default=None,
                    help="calibration tokens at the start (default 65536 bytes / 1000 tokens)")
    ap.add_argument("--ctx", type=int, default=None,
                    help="window length (default 256 for bytes-c, 128 for aidreams, "
                         "max_position_embeddings for a folder)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--importance", default=None)
    ap.add_argument("--ref", type=float, default=None,
                    help="the unquantized figure, when already measured (saves one evaluation)")
    ap.add_argument("--no-sensitivity", action="store_true",
                    help="importance: only the vectors, no NAME.sensitivity values")
    ap.add_argument("--both", action="store_true", help="each spec with and without --importance")
    ap.add_argument("--vs", default=None,
                    help="eval: also give each SPEC's difference from this SPEC, paired window "
                         "by window, with its 95%% confidence interval")
    ap.add_argument("--kld", action="store_true",
                    help="eval: also the divergence of each file's next-token distribution "
                         "from the unquantized model's (mean KL per position, in percent of "
                         "its bits), paired like the deltas")
    ap.add_argument("--args", default=None, help="extra qtf-convert arguments")
    ap.add_argument("--budget", type=float, default=4.25, help="noise: the --target-bpw plan")
    ap.add_argument("--seeds", default="1,2,3,4", help="noise: random seeds")
    ap.add_argument("--alpha", type=float, default=0.5, help="rescale: the exponent")
    ap.add_argument("--parts", default="ln,vo,ud,head", help="rescale: which producers")
    args = ap.parse_intermixed_args()
    MODELS[args.model] = model_spec(args)
    if not os.path.isdir(MODELS[args.model]["dir"]):
        print(f"SKIP: {MODELS[args.model]['dir']} absent", file=sys.stderr)
        return 77
    torch.set_num_threads(1)
    if args.command == "baseline":
        cmd_baseline(args)
    elif args.command == "importance":
        if len(args.rest) != 1:
            ap.error("importance needs OUT.safetensors")
        args.out = args.rest[0]
        cmd_importance(args)
    elif args.command == "noise":
        if not args.importance:
            ap.error("noise needs --importance")
        cmd_noise(args)
    elif args.command == "rescale":
        if not args.importance or not args.rest:
            ap.error("rescale needs --importance and at least one SPEC")
        args.specs = args.rest
        cmd_rescale(args)
    else:
        if not args.rest:
            ap.error("eval needs at least one SPEC")
        args.specs = args.rest
        ref, _ = cmd_eval(args)
        print(f"unquantized: {ref:.5f} {MODELS[args.model]['unit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
