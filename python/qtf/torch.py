"""qtf.torch — the safetensors.torch twin: load_file / save_file / load / save."""
import os
import tempfile

import torch as _torch  # noqa: F401  (ImportError here is the clear message)

from ._core import load_tensors, save_tensors


def load_file(path, dtype=None, threads=0, device="cpu"):
    """Returns {name: torch.Tensor}, ready for model.load_state_dict().

    dtype None gives each tensor its source dtype (float tensors that are stored
    plain are zero-copy views of the file mapping); otherwise torch.float32,
    torch.float16 or torch.bfloat16 (or "f32"/"f16"/"bf16") for every float tensor.

    The decoded tensors are views of one allocation, filled by `threads`
    threads (0 = all cores) working over all tensors; it is freed when the
    last of them is (keeping one tensor keeps it all: .clone() what you keep
    if you drop the rest). A GGUF file gives its tensors under the GGUF's
    names, float32 unless dtype says otherwise (see qtf._gguf)."""
    return load_tensors(path, "pt", dtype=dtype, threads=threads, device=device)


def save_file(tensors, path, encoding="int4:group=32", rules=(), metadata=None,
              fallback=None, all_layers=False, threads=0):
    """Quantizes a {name: torch.Tensor} dict into a .qtf file, choosing each
    tensor's encoding with qtf-convert's recipe rules (default `encoding` for
    weight matrices, `rules` "GLOB=SPEC" first match wins, 1-D and small
    tensors kept, embeddings int8 unless all_layers). Atomic."""
    save_tensors(tensors, path, encoding=encoding, rules=rules, metadata=metadata,
                 fallback=fallback, all_layers=all_layers, threads=threads)


def save(tensors, **kw):
    """Like save_file but returns the file's bytes."""
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "t.qtf")
        save_file(tensors, p, **kw)
        with open(p, "rb") as fp:
            return fp.read()
