"""qtf.numpy — the safetensors.numpy twin (no torch needed)."""
from ._core import load_tensors, save_tensors


def load_file(path, dtype=None, threads=0):
    """Returns {name: numpy.ndarray}. dtype None: the source dtype, except that
    bfloat16 sources (numpy has no bfloat16) come back as float32; an explicit
    bfloat16 request raises. Plain float tensors are zero-copy views."""
    return load_tensors(path, "np", dtype=dtype, threads=threads)


def save_file(tensors, path, encoding="int4:group=32", rules=(), metadata=None,
              fallback=None, all_layers=False, threads=0):
    """Quantizes {name: numpy.ndarray} into a .qtf file (see qtf.torch.save_file)."""
    save_tensors(tensors, path, encoding=encoding, rules=rules, metadata=metadata,
                 fallback=fallback, all_layers=all_layers, threads=threads)
