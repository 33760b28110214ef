"""The package's Python layer: argument handling, numpy/torch buffers, the
safetensors-like API. Every value is decoded by libqtf through _qtf."""
import math
import os

import numpy as np

from . import _qtf
from ._qtf import QtfError

# libqtf dtype names -> numpy dtypes (BF16 has none: uint16 carries its bits)
_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I8": np.int8,
       "U8": np.uint8, "I16": np.int16, "U16": np.uint16, "I32": np.int32,
       "U32": np.uint32, "I64": np.int64, "U64": np.uint64, "BOOL": np.bool_}
_FLOAT_OUT = ("F32", "F16", "BF16")
_ALIASES = {"f32": "F32", "float32": "F32", "float": "F32", "f16": "F16", "float16": "F16",
            "half": "F16", "bf16": "BF16", "bfloat16": "BF16"}


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ImportError("framework='pt' needs PyTorch (python3-torch); use "
                          "framework='np' without it") from e
    return torch


def _torch_dtypes(torch):
    return {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
            "F64": torch.float64, "I8": torch.int8, "U8": torch.uint8, "I16": torch.int16,
            "I32": torch.int32, "I64": torch.int64, "BOOL": torch.bool}


def _framework(framework):
    fw = {"pt": "pt", "torch": "pt", "pytorch": "pt", "np": "np", "numpy": "np"}.get(
        str(framework).lower())
    if fw is None:
        raise ValueError(f"framework {framework!r} is not supported: use 'pt' (PyTorch) or "
                         f"'np' (numpy)")
    if fw == "pt":
        _torch()
    return fw


def _dtype_name(dtype):
    """None, a string, a numpy dtype or a torch dtype -> F32/F16/BF16/..."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        key = dtype.lower().replace("torch.", "")
        if key in _ALIASES:
            return _ALIASES[key]
        if dtype.upper() in _NP or dtype.upper() == "BF16":
            return dtype.upper()
        raise ValueError(f"unknown dtype {dtype!r} (expected float32, float16 or bfloat16)")
    s = str(dtype).replace("torch.", "")
    if s in _ALIASES:
        return _ALIASES[s]
    try:
        npd = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"unknown dtype {dtype!r}") from None
    for k, v in _NP.items():
        if np.dtype(v) == npd:
            return k
    raise ValueError(f"unknown dtype {dtype!r}")


def encoding(text):
    """Canonical text of an encoding (raises QtfError QTF_E_PARSE)."""
    return _qtf.encoding(text)


class _Slice:
    """f.get_slice(name): shape/dtype without decoding; [rows] decodes only
    the rows of the first dimension asked for (libqtf
    qtf_tensor_dequantize_rows)."""

    def __init__(self, owner, name):
        self._o, self._name = owner, name
        self._info = owner._f.info(name)

    def get_shape(self):
        return list(self._info["shape"])

    def get_dtype(self):
        return self._info.get("source_type") or "F32"

    def __getitem__(self, idx):
        rest = ()
        if isinstance(idx, tuple):
            idx, rest = (idx[0], idx[1:]) if idx else (slice(None), ())
        shape = self._info["shape"]
        if len(shape) < 2 or idx is Ellipsis:
            # one row only (or a scalar): decode it all, index afterwards
            t = self._o.get_tensor(self._name)
            return t[(idx,) + rest]
        if isinstance(idx, (int, np.integer)):
            i = int(idx) + (shape[0] if idx < 0 else 0)
            if not 0 <= i < shape[0]:
                raise IndexError(f"index {idx} out of range for dimension 0 of size {shape[0]}")
            t = self._o._decode(self._name, i, i + 1)[0]
        elif isinstance(idx, slice):
            start, stop, step = idx.indices(shape[0])
            lo, hi = (start, stop) if step > 0 else (stop + 1, start + 1)
            lo, hi = max(lo, 0), max(min(hi, shape[0]), max(lo, 0))
            t = self._o._decode(self._name, lo, hi)
            t = t[(start - lo)::step]
            rest = (slice(None),) + rest if rest else rest
        else:
            raise TypeError(f"get_slice index must be an int or a slice, not {type(idx)}")
        return t[rest] if rest else t


class safe_open:
    """safe_open(path, framework="pt"|"np", device="cpu") as a context manager.

    A GGUF file (recognized by its magic) gives a qtf._gguf.GGUFOpen, with
    the same methods (names and shapes as in the GGUF: see that module)."""

    def __new__(cls, path, framework="pt", device="cpu", **kw):
        if cls is safe_open and _qtf.is_gguf(os.fspath(path)):
            from ._gguf import GGUFOpen
            return GGUFOpen(path, framework, device)
        return super().__new__(cls)

    def __init__(self, path, framework="pt", device="cpu", _gguf=False):
        self._fw = _framework(framework)
        if self._fw == "np" and str(device) != "cpu":
            raise ValueError("framework='np' only supports device='cpu'")
        self._device = device
        self._f = (_qtf.GGUF if _gguf else _qtf.File)(os.fspath(path))
        self._threads = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        """Closes the file; tensors already returned stay valid."""
        self._f.close()

    def keys(self):
        return self._f.keys()

    def metadata(self):
        """{key: value}: ints, floats, bools, str, lists for arrays, bytes for
        blobs (embedded files, e.g. hf.file.config.json)."""
        return {k: v for k, _t, v, _m in self._f.meta()}

    def metadata_types(self):
        """{key: type name} ("string", "u32", "array[f32]", "blob:MEDIA/TYPE")."""
        return {k: (f"blob:{m}" if t == "blob" else t) for k, t, _v, m in self._f.meta()}

    def info(self, name):
        """shape, n_elements, source_type, encoding (canonical text),
        bits_per_weight, checksum (as qtf-inspect prints it), parts and layout
        ("row-major", or "transposed": the parts encode the 2-D transpose,
        e.g. a GPT-2 Conv1D weight; shape and values are the tensor's own)."""
        return self._f.info(name)

    def get_slice(self, name):
        return _Slice(self, name)

    def _target(self, info, dtype):
        part_types = [p["type"] for p in info["parts"]]
        raw = (len(part_types) == 1 and info["parts"][0]["role"] == "data"
               and part_types[0] not in _FLOAT_OUT)
        want = _dtype_name(dtype)
        src = info["source_type"] or ("F32" if not raw else part_types[0])
        if want is None:
            want = src if (src in _FLOAT_OUT or raw) else "F32"
            if self._fw == "np" and want == "BF16":
                want = "F32"  # numpy has no bfloat16: documented default
        if self._fw == "np" and want == "BF16":
            raise TypeError("numpy has no bfloat16: use framework='pt' or dtype='float32'")
        return want, raw

    def get_tensor(self, name, dtype=None):
        """The tensor dequantized to its source dtype (dtype=None) or to
        float32/float16/bfloat16."""
        return self._decode(name, None, None, dtype)

    def _decode(self, name, first, last, dtype=None):
        """The tensor, or its entries first..last of dimension 0."""
        info = self._f.info(name)
        want, raw = self._target(info, dtype)
        shape = tuple(info["shape"])
        row_begin = row_end = None
        if first is not None:
            per = math.prod(shape[1:-1])  # rows (of the rows x cols view) per entry
            row_begin, row_end = first * per, last * per
            shape = (last - first,) + shape[1:]
        n = math.prod(shape)
        if raw:
            stored = info["parts"][0]["type"]
            arr = self._stored(name, info, stored, first, shape, n)
            if want not in (stored,) and want in _FLOAT_OUT:
                return self._convert(arr, want)
            return self._wrap(arr)
        if n:
            zc = self._f.zero_copy(name)
            if zc is not None and zc[1] == want:  # stored as asked: a view of the mapping
                skip = (row_begin or 0) * (info["shape"][-1] if info["shape"] else 1)
                return self._view(zc[0] + skip * (4 if want == "F32" else 2), want, shape, n)
        out, buf = self._empty(want, shape)
        if n:
            if row_begin is None:
                self._f.dequantize(name, want, buf, self._threads)
            else:
                self._f.dequantize(name, want, buf, self._threads, row_begin, row_end)
        return self._finish(out)

    def _stored(self, name, info, stored, first, shape, n):
        npd = np.dtype(_NP[stored])
        zc = self._f.zero_copy(name)
        if zc is not None and n:
            full = np.frombuffer(self._f, dtype=npd, count=info["n_elements"], offset=zc[0])
            full = full.reshape(info["shape"])
        elif info.get("layout") == "transposed":
            # the part holds the [shape[1], shape[0]] transpose (format 1.1)
            full = np.empty(info["shape"][::-1], dtype=npd)
            if info["n_elements"]:
                self._f.raw(name, full)
            full = np.ascontiguousarray(full.T)
        else:
            full = np.empty(info["shape"], dtype=npd)
            if info["n_elements"]:
                self._f.raw(name, full)
        if first is not None:
            full = full[first:first + shape[0]]
        return full

    def _view(self, offset, want, shape, n):
        if self._fw == "np":
            return np.frombuffer(self._f, dtype=_NP[want], count=n, offset=offset).reshape(shape)
        torch = _torch()
        t = torch.frombuffer(self._f, dtype=_torch_dtypes(torch)[want], count=n,
                             offset=offset).reshape(shape)
        return t if str(self._device) == "cpu" else t.to(self._device)

    def _arena_view(self, arena, offset, want, shape):
        """A tensor over bytes of a load_many arena (which it keeps alive)."""
        n = math.prod(shape)
        if self._fw == "np":
            return np.frombuffer(arena, dtype=_NP[want], count=n, offset=offset).reshape(shape)
        torch = _torch()
        t = torch.frombuffer(arena, dtype=_torch_dtypes(torch)[want], count=n,
                             offset=offset).reshape(shape)
        return self._finish(t)

    def _empty(self, want, shape):
        """(result object, writable buffer over it)."""
        if self._fw == "np":
            a = np.empty(shape, dtype=_NP[want])
            return a, a
        torch = _torch()
        t = torch.empty(shape, dtype=_torch_dtypes(torch)[want])
        buf = t.view(torch.int16).numpy() if want == "BF16" else t.numpy()
        return t, buf

    def _finish(self, out):
        if self._fw == "pt" and str(self._device) != "cpu":
            return out.to(self._device)
        return out

    def _wrap(self, arr):
        if self._fw == "np":
            return arr
        torch = _torch()
        if arr.dtype in (np.uint16, np.uint32, np.uint64):
            raise TypeError(f"PyTorch 1.13 has no {arr.dtype}: use framework='np'")
        return self._finish(torch.from_numpy(arr) if arr.size else torch.from_numpy(arr.copy()))

    def _convert(self, arr, want):
        if self._fw == "np":
            return arr.astype(_NP[want])
        torch = _torch()
        return self._finish(torch.from_numpy(np.ascontiguousarray(arr)).to(
            _torch_dtypes(torch)[want]))


def load_tensors(path, framework, dtype=None, threads=0, device="cpu"):
    """Every tensor, as get_tensor(name, dtype) gives it. The tensors to
    decode are decoded together (_qtf File.load_many): one allocation whose
    tensors are views, all threads working over all tensors, one GIL
    release; plain ones stay zero-copy views of the mapping."""
    with safe_open(path, framework=framework, device=device) as f:
        f._threads = int(threads)
        if isinstance(f._f, _qtf.GGUF):  # GGUF: tensor by tensor, float32 by default
            return {k: f.get_tensor(k, dtype) for k in f.keys()}
        out, batch = {}, []
        for k in f.keys():
            info = f._f.info(k)
            want, raw = f._target(info, dtype)
            zc = None if raw or not info["n_elements"] else f._f.zero_copy(k)
            if raw or not info["n_elements"] or (zc is not None and zc[1] == want):
                out[k] = None  # keeps the file's order
                batch.append((k, None, None))
            else:
                out[k] = None
                batch.append((k, want, tuple(info["shape"])))
        todo = [(k, w) for k, w, _s in batch if w is not None]
        arena, offsets = f._f.load_many(todo, int(threads)) if todo else (None, [])
        offs = iter(offsets)
        for k, want, shape in batch:
            out[k] = f.get_tensor(k, dtype) if want is None else \
                f._arena_view(arena, next(offs), want, shape)
        return out


# ---- writing --------------------------------------------------------------

def _meta_kind(key, v):
    """(kind, value, media type) for the _qtf writer."""
    if isinstance(v, bool) or isinstance(v, np.bool_):
        return "bool", bool(v), None
    if isinstance(v, (int, np.integer)):
        v = int(v)
        return ("u64", v, None) if v > 2**63 - 1 else ("i64", v, None)
    if isinstance(v, (float, np.floating)):
        return "f64", float(v), None
    if isinstance(v, str):
        return "string", v, None
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "blob", bytes(v), "application/octet-stream"
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and isinstance(
            v[1], (bytes, bytearray)):
        return "blob", bytes(v[1]), v[0]  # (media type, bytes)
    if isinstance(v, np.ndarray):
        names = {np.dtype(np.uint8): "u8", np.dtype(np.int8): "i8", np.dtype(np.uint16): "u16",
                 np.dtype(np.int16): "i16", np.dtype(np.uint32): "u32",
                 np.dtype(np.int32): "i32", np.dtype(np.float32): "f32",
                 np.dtype(np.uint64): "u64", np.dtype(np.int64): "i64",
                 np.dtype(np.float64): "f64", np.dtype(np.bool_): "bool"}
        if v.dtype not in names or v.ndim != 1:
            raise TypeError(f"metadata {key!r}: 1-D numeric numpy arrays only, not {v.dtype}")
        return f"array[{names[v.dtype]}]", np.ascontiguousarray(v, v.dtype.newbyteorder("<")
                                                                ).tobytes(), None
    if isinstance(v, (list, tuple)):
        if all(isinstance(x, str) for x in v):
            return "array[string]", list(v), None
        if all(isinstance(x, bool) for x in v):
            return _meta_kind(key, np.array(v, dtype=np.bool_))
        if all(isinstance(x, int) for x in v):
            return _meta_kind(key, np.array(v, dtype=np.int64))
        if all(isinstance(x, (int, float)) for x in v):
            return _meta_kind(key, np.array(v, dtype=np.float64))
    raise TypeError(f"metadata {key!r}: unsupported value type {type(v).__name__}")


def _as_numpy(t):
    """(numpy array of the source values or their bits, libqtf dtype name)."""
    if isinstance(t, np.ndarray):
        name = _dtype_name(t.dtype)
        return np.ascontiguousarray(t).reshape(t.shape), name  # keeps 0-d arrays 0-d
    torch = _torch()
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected numpy arrays or torch tensors, not {type(t).__name__}")
    t = t.detach().cpu().contiguous()
    names = {v: k for k, v in _torch_dtypes(torch).items()}
    if t.dtype not in names:
        raise TypeError(f"unsupported torch dtype {t.dtype}")
    name = names[t.dtype]
    if name == "BF16":
        return t.to(torch.float32).numpy(), "BF16"   # exact: bf16 is f32's top half
    return t.numpy(), name


def save_tensors(tensors, path, encoding="int4:group=32", rules=(), metadata=None,
                 fallback=None, all_layers=False, threads=0):
    if not isinstance(tensors, dict):
        raise TypeError("tensors must be a dict {name: tensor}")
    arrays = {}
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, not {type(name).__name__}")
        arrays[name] = _as_numpy(t)
    plan, recipe = _qtf.plan(encoding, list(rules), fallback, bool(all_layers),
                             [(n, dt, a.shape) for n, (a, dt) in arrays.items()])
    w = _qtf.Writer(os.fspath(path))
    try:
        for k, v in (metadata or {}).items():
            kind, val, media = _meta_kind(k, v)
            w.set(k, kind, val, media)
        w.set("qtf.converter", "string", f"qtf-python {_qtf.version}")
        w.set("qtf.recipe", "string", recipe)
        for (name, (a, dt)), (enc, _why) in zip(arrays.items(), plan):
            if enc.startswith("raw"):
                data = np.ascontiguousarray(a).view(np.uint8) if a.size else np.empty(0, np.uint8)
            else:
                data = np.ascontiguousarray(a, dtype=np.float32)
            w.add(name, a.shape, dt, enc, data, int(threads))
        w.finish()
    except BaseException:
        w.abort()
        raise


# ---- verification ------------------------------------------------------------

def verify(path, against=None, threads=0, checksums_only=False, max_rel_rmse=None,
           min_cosine=None, min_snr_db=None):
    """The fields of `qtf-verify --json` (inspect/JSON-SCHEMA.md) as a dict.

    against: a .safetensors file, a folder of (sharded) safetensors or another
    .qtf file, compared tensor by tensor (W = source as f32, W' = dequantized).
    A file that cannot be opened at all raises QtfError (qtf-verify prints no
    JSON for it either)."""
    from . import _safetensors
    f = _qtf.File(os.fspath(path))
    nthreads = int(threads) or _qtf.default_threads()
    structure, sdetail, rows, ck_secs, dec_secs = f.check(int(threads), not checksums_only)
    infos = {k: f.info(k) for k in f.keys()}
    stored = sum(p["stored_size"] for i in infos.values() for p in i["parts"])
    tensors, failures = [], []
    if structure not in ("QTF_OK", "QTF_E_CHECKSUM"):
        failures.append({"tensor": None, "check": "structure", "status": structure,
                         "message": sdetail})
    thresholds = {"max_rel_rmse": max_rel_rmse, "min_cosine": min_cosine,
                  "min_snr_db": min_snr_db}
    src = _safetensors.open_source(against) if against is not None else None
    for name, cstat, cdet, dstat, ddet, nonfinite in rows:
        i = infos[name]
        t = {"name": name, "encoding": i["encoding"], "n_elements": i["n_elements"],
             "ok": True, "checksum_ok": cstat == "QTF_OK", "checksum_status": cstat,
             "decode_ok": None if dstat is None else dstat == "QTF_OK"}
        fails = []
        if cstat != "QTF_OK":
            fails.append(("checksum", cdet))
        if dstat not in (None, "QTF_OK"):
            t["decode_error"] = ddet
            fails.append(("decode", ddet))
        t["nonfinite"] = nonfinite
        quantized = i["encoding"].split(":")[0] not in ("f32", "f16", "bf16") and not (
            i["encoding"].startswith("raw"))
        if nonfinite and quantized:
            fails.append(("nonfinite", f"{nonfinite} NaN/Inf values decoded from a quantized "
                                       f"encoding"))
        if src is not None:
            fails += _compare(t, f, name, i, src, thresholds, quantized)
        t["failures"] = [c for c, _ in fails]
        t["ok"] = not fails
        failures += [{"tensor": name, "check": c, "message": m} for c, m in fails]
        tensors.append(t)
    against_obj = summary = None
    worst = []
    if src is not None:
        names = set(infos)
        missing = [n for n in src.names() if n not in names]
        failures += [{"tensor": n, "check": "missing",
                      "message": "in the source but not in the file"} for n in missing]
        cmp_ = [t for t in tensors if t.get("rel_rmse") is not None]
        against_obj = {"path": os.fspath(against), "kind": src.kind, "importance": None,
                       "tensors": len(src.names()),
                       "compared": len(cmp_), "ignored": 0, "missing": missing,
                       "extra": [t["name"] for t in tensors if not t.get("in_source", True)],
                       "shape_mismatch": [t["name"] for t in tensors
                                          if t.get("shape_ok") is False]}
        if cmp_:
            el = sum(t["n_elements"] for t in cmp_) or 1
            fin = [t for t in cmp_ if t["snr_db"] != "inf"]
            fel = sum(t["n_elements"] for t in fin)
            summary = {"tensors": len(cmp_), "elements": sum(t["n_elements"] for t in cmp_),
                       "rel_rmse": sum(t["rel_rmse"] * t["n_elements"] for t in cmp_) / el,
                       "snr_db": (sum(t["snr_db"] * t["n_elements"] for t in fin) / fel
                                  if fel else "inf"),
                       "cosine": sum(t["cosine"] * t["n_elements"] for t in cmp_) / el,
                       "max_abs_err": max(t["max_abs_err"] for t in cmp_),
                       "exact_tensors": len(cmp_) - len(fin)}
            worst = [{"name": t["name"], "encoding": t["encoding"], "rel_rmse": t["rel_rmse"]}
                     for t in sorted(cmp_, key=lambda t: -t["rel_rmse"])[:10]]
    nfail_ck = sum(1 for t in tensors if not t["checksum_ok"])
    nfail_dec = sum(1 for t in tensors if t["decode_ok"] is False)
    return {
        "schema_version": 1, "file": os.fspath(path), "ok": not failures,
        "threads": nthreads,
        "checks": {
            "structure": {"ok": structure in ("QTF_OK", "QTF_E_CHECKSUM"),
                          "status": structure if structure != "QTF_E_CHECKSUM" else "QTF_OK",
                          "message": None if structure in ("QTF_OK", "QTF_E_CHECKSUM")
                          else sdetail},
            "checksums": {"ok": nfail_ck == 0, "failed": nfail_ck, "bytes": stored,
                          "seconds": ck_secs},
            "decode": {"checked": not checksums_only, "ok": nfail_dec == 0,
                       "failed": nfail_dec, "seconds": dec_secs},
        },
        "against": against_obj, "thresholds": thresholds, "summary": summary,
        "worst": worst, "tensors": tensors, "failures": failures,
    }


def _compare(t, f, name, info, src, th, quantized):
    t.update({"ignored": False, "in_source": name in src.names(), "shape_ok": None,
              "source_nonfinite": None, "rel_rmse": None, "max_abs_err": None, "snr_db": None, "cosine": None,
              "mse": None})
    if not t["in_source"]:
        return [("extra", "in the file but not in the source")]
    shape = src.shape(name)
    t["shape_ok"] = list(shape) == list(info["shape"])
    if not t["shape_ok"]:
        return [("shape", f"shape {list(info['shape'])} in the file, {list(shape)} in the "
                          f"source")]
    if t["decode_ok"] is False:
        return []
    try:
        ref = src.read_f32(name)
    except (OSError, ValueError) as e:
        return [("source_read", str(e))]
    finite = np.isfinite(ref)
    t["source_nonfinite"] = int(ref.size - np.count_nonzero(finite))
    approx = np.empty(info["shape"], dtype=np.float32)
    if info["n_elements"]:
        if f.zero_copy(name) is not None and info["parts"][0]["type"] not in _FLOAT_OUT:
            raw = np.empty(info["shape"], dtype=_NP[info["parts"][0]["type"]])
            f.raw(name, raw)
            approx = raw.astype(np.float32)
        else:
            f.dequantize(name, "F32", approx)
    if t["source_nonfinite"]:
        # not compared (metrics stay null); NaN/Inf where the source is finite fail
        bad = int(np.count_nonzero(~np.isfinite(approx) & finite))
        return [("nonfinite", f"{bad} NaN/Inf values where the source is finite")] if bad else []
    if t["nonfinite"] and not quantized:
        return [("nonfinite", f"{t['nonfinite']} NaN/Inf values where the source is finite")]
    m = _qtf.metrics(np.ascontiguousarray(ref, np.float32), approx)
    t.update({k: m[k] for k in ("rel_rmse", "max_abs_err", "cosine", "mse")})
    t["snr_db"] = "inf" if math.isinf(m["snr_db"]) else m["snr_db"]
    fails = []
    bad = math.isnan(m["rel_rmse"])
    if th["max_rel_rmse"] is not None and (bad or m["rel_rmse"] > th["max_rel_rmse"]):
        fails.append(("max_rel_rmse", f"rel_rmse {m['rel_rmse']:.6g} > {th['max_rel_rmse']}"))
    if th["min_cosine"] is not None and not m["cosine"] >= th["min_cosine"]:
        fails.append(("min_cosine", f"cosine {m['cosine']:.6g} < {th['min_cosine']}"))
    if th["min_snr_db"] is not None and not m["snr_db"] >= th["min_snr_db"]:
        fails.append(("min_snr", f"snr_db {m['snr_db']:.6g} < {th['min_snr_db']}"))
    return fails


# ---- folder export -------------------------------------------------------------

def export_folder(path, out_dir, dtype=None, max_shard_size="5GB", threads=0):
    """Writes a Hugging Face folder back: every embedded file (hf.file.NAME
    blobs: config.json, generation_config.json, tokenizer files) byte for
    byte, and the tensors as safetensors in `dtype` (default: each tensor's
    source dtype), sharded above max_shard_size (bytes or "5GB", "500MB",
    "2GiB"; decimal units like transformers) with model.safetensors.index.json.
    The same files, byte for byte, as `qtf-convert model.qtf out_dir/`. The
    folder must be new or empty (nothing is replaced). Returns the list of
    file names written."""
    from . import _safetensors
    limit = _safetensors.parse_size(max_shard_size)
    want = _dtype_name(dtype)
    if want is not None and want not in _FLOAT_OUT:
        raise ValueError("dtype must be float32, float16 or bfloat16")
    f = _qtf.File(os.fspath(path))
    os.makedirs(out_dir, exist_ok=True)
    if os.listdir(out_dir):
        raise FileExistsError(f"{os.fspath(out_dir)}: the folder is not empty; give a new or "
                              f"empty folder (nothing is replaced)")
    written = []
    for key, t, value, _media in f.meta():
        if key.startswith("hf.file.") and t == "blob":
            name = key[len("hf.file."):]
            if not name or "/" in name or name in (".", ".."):
                raise QtfError(f"QTF_E_VALUE: embedded file name {name!r} is not a plain "
                               f"file name")
            _safetensors.write_atomic(os.path.join(out_dir, name), value)
            written.append(name)
    plan = []
    for name in f.keys():
        info = f.info(name)
        parts = info["parts"]
        raw = len(parts) == 1 and parts[0]["role"] == "data" and parts[0]["type"] not in _FLOAT_OUT
        if raw:
            dt = parts[0]["type"]
        elif want is not None:
            dt = want
        else:
            dt = info["source_type"] if info["source_type"] in _FLOAT_OUT else "F32"
        plan.append((name, dt, tuple(info["shape"]), raw))

    def fill(name, dt, shape, raw):
        if raw:
            a = np.empty(shape, dtype=_NP[dt])
            if a.size:
                f.raw(name, a)
            return a
        a = np.empty(shape, dtype=np.uint16 if dt == "BF16" else _NP[dt])
        if a.size:
            f.dequantize(name, dt, a, int(threads))
        return a
    written += _safetensors.write_sharded(out_dir, plan, fill, limit)
    return written
