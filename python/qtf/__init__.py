"""qtf — load and write Quantized Tensor Files from Python.

The API mirrors safetensors::

    import qtf
    with qtf.safe_open("model.qtf", framework="pt") as f:
        for name in f.keys():
            w = f.get_tensor(name)            # dequantized to the source dtype
        rows = f.get_slice("lm_head.weight")[0:16]   # decodes only those rows
        f.info("lm_head.weight")              # shape, encoding, bits per weight, checksum

    state_dict = qtf.torch.load_file("model.qtf", dtype=torch.bfloat16)
    qtf.torch.save_file(state_dict, "out.qtf", encoding="int4:group=32",
                        rules=["*embed*=int8"], metadata={"note": "hi"})
    report = qtf.verify("out.qtf")            # the fields of `qtf-verify --json`
    qtf.export_folder("model.qtf", "hf-folder/")   # config, tokenizer, safetensors
    qtf.safe_open("model.gguf")               # GGUF too (see qtf._gguf)

All decoding is done by libqtf (the _qtf extension), with the GIL released.
Errors are qtf.QtfError with .status (e.g. "QTF_E_CHECKSUM") and .detail.
torch is optional: framework="np" and qtf.numpy work without it.
"""
from ._qtf import QtfError, QtfNotFoundError, version as __version__  # noqa: F401
from ._core import safe_open, verify, export_folder, encoding  # noqa: F401

__all__ = ["safe_open", "verify", "export_folder", "encoding", "QtfError",
           "QtfNotFoundError", "torch", "numpy"]


def __getattr__(name):
    # qtf.torch / qtf.numpy as attributes without importing torch eagerly
    if name in ("torch", "numpy"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'qtf' has no attribute {name!r}")
