"""GGUF files (llama.cpp) through the safetensors-like API.

``qtf.safe_open("model.gguf")`` (recognized by content, the GGUF magic, not
the extension) returns a GGUFOpen: the same methods as for a .qtf file.

* Names are the GGUF's own (``blk.0.attn_q.weight``, ``token_embd.weight``):
  nothing is renamed and llama.cpp's Q/K row permutation is not undone, so
  the values are exactly what the file stores, in its element order.
* Shapes are ggml's ``ne`` reversed (outermost first, the row last), as
  gguf-py and the ``*.ref.safetensors`` fixtures give them.
* ``get_tensor(name)`` dequantizes to float32 (bit-identical to ggml's own
  dequantization); ``dtype=`` float16 / bfloat16 rounds that (to nearest,
  ties to even), decoded by libqtf in one pass. Every ggml type of libqtf's
  encoding table decodes (F32, F16, BF16, Q4_0 ... Q8_0, Q2_K ... Q6_K,
  IQ4_NL, IQ4_XS, MXFP4); others raise QtfError QTF_E_UNSUPPORTED.
* ``info(name)``: shape, ggml_type ("Q4_K"), ggml_type_id, n_elements,
  nbytes, bits_per_weight (stored bits / elements), offset (of the data in
  the file), encoding (the QTF encoding with the same bytes, e.g. "q4_k").
* ``metadata()``: every key/value (arrays as lists, e.g. the tokenizer's
  tokens); ``metadata_types()`` their GGUF types ("u32", "array[string]").
"""
import math

from ._core import safe_open, _Slice, _dtype_name


class GGUFOpen(safe_open):
    """safe_open over a GGUF file (see the module documentation)."""

    def __init__(self, path, framework="pt", device="cpu"):
        super().__init__(path, framework, device, _gguf=True)

    def metadata(self):
        return {k: v for k, _t, v in self._f.meta()}

    def metadata_types(self):
        return {k: t for k, t, _v in self._f.meta()}

    def info(self, name):
        return self._f.info(name)

    def get_slice(self, name):
        return _Slice(self, name)

    def get_tensor(self, name, dtype=None):
        return self._decode(name, None, None, dtype)

    def _decode(self, name, first, last, dtype=None):
        info = self._f.info(name)
        want = _dtype_name(dtype) or "F32"
        if want not in ("F32", "F16", "BF16"):
            raise ValueError(f"dtype must be float32, float16 or bfloat16, not {dtype!r}")
        if self._fw == "np" and want == "BF16":
            raise TypeError("numpy has no bfloat16: use framework='pt' or dtype='float32'")
        shape = tuple(info["shape"])
        kw = {}
        if first is not None:
            per = math.prod(shape[1:-1])
            kw = {"row_begin": first * per, "row_end": last * per}
            shape = (last - first,) + shape[1:]
        out, buf = self._empty(want, shape)
        if math.prod(shape):
            self._f.dequantize(name, want, buf, self._threads, **kw)
        return self._finish(out)

