"""safetensors files for qtf.export_folder (writing, sharded like
transformers) and qtf.verify(against=...) (reading). This is the
safetensors container only (a JSON header and raw little-endian bytes);
QTF decoding stays in libqtf."""
import json
import os
import re
import struct
import tempfile

import numpy as np

_ST_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": np.uint16,
          "I8": np.int8, "U8": np.uint8, "I16": np.int16, "U16": np.uint16, "I32": np.int32,
          "U32": np.uint32, "I64": np.int64, "U64": np.uint64, "BOOL": np.bool_}


def parse_size(s):
    """Bytes from an int or "5GB" / "500MB" / "2GiB" (transformers' units)."""
    if isinstance(s, int):
        return s
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?\s*", str(s), re.I)
    if not m:
        raise ValueError(f"max_shard_size {s!r}: expected bytes or e.g. '5GB', '500MB'")
    unit = (m.group(2) or "B").upper()
    mult = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KIB": 2**10,
            "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}[unit]
    return int(float(m.group(1)) * mult)


def write_atomic(path, data):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".qtf-tmp-")
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _nbytes(dt, shape):
    n = 1
    for d in shape:
        n *= d
    return n * np.dtype(_ST_NP[dt]).itemsize


def _write_one(path, entries, fill):
    """One safetensors file: header from the declarations, then each tensor
    decoded and written in turn (memory: one tensor)."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape, _raw in entries:
        n = _nbytes(dt, shape)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".qtf-tmp-")
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(struct.pack("<Q", len(h)) + h)
            for e in entries:
                a = fill(*e)
                fp.write(np.ascontiguousarray(a).view(np.uint8).reshape(-1).data
                         if a.size else b"")
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return off


def write_sharded(out_dir, plan, fill, limit):
    """model.safetensors, or model-0000i-of-0000n.safetensors shards of at most
    `limit` bytes (a larger tensor gets a shard of its own) plus
    model.safetensors.index.json, as transformers' save_pretrained does."""
    shards, cur, size = [], [], 0
    for e in plan:
        n = _nbytes(e[1], e[2])
        if cur and size + n > limit:
            shards.append(cur)
            cur, size = [], 0
        cur.append(e)
        size += n
    if cur or not shards:
        shards.append(cur)
    if len(shards) == 1:
        _write_one(os.path.join(out_dir, "model.safetensors"), shards[0], fill)
        return ["model.safetensors"]
    names, weight_map, total = [], {}, 0
    for i, s in enumerate(shards):
        fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        total += _write_one(os.path.join(out_dir, fn), s, fill)
        names.append(fn)
        for e in s:
            weight_map[e[0]] = fn
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    write_atomic(os.path.join(out_dir, "model.safetensors.index.json"),
                 (json.dumps(index, indent=2, sort_keys=True) + "\n").encode())
    return names + ["model.safetensors.index.json"]


class _StFile:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as fp:
            head = fp.read(8)
            if len(head) < 8:
                raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > 100 * 2**20:
                raise ValueError(f"{path}: safetensors header of {n} bytes exceeds 100 MiB")
            self.header = json.loads(fp.read(n))
        self.base = 8 + n
        self.header.pop("__metadata__", None)

    def read(self, name):
        e = self.header[name]
        a, b = e["data_offsets"]
        dt = np.dtype(_ST_NP[e["dtype"]])
        arr = np.fromfile(self.path, dtype=dt, count=(b - a) // dt.itemsize,
                          offset=self.base + a)
        if e["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.astype(np.float32).reshape(e["shape"])


class _Source:
    """Tensors of a .safetensors file, a folder of them, or a .qtf file."""

    def __init__(self, path):
        self.files, self.where = [], {}
        if os.path.isdir(path):
            idx = os.path.join(path, "model.safetensors.index.json")
            if os.path.exists(idx):
                with open(idx) as fp:
                    names = sorted(set(json.load(fp)["weight_map"].values()))
                self.kind = "safetensors-sharded"
            else:
                names = sorted(n for n in os.listdir(path) if n.endswith(".safetensors"))
                self.kind = "safetensors"
            if not names:
                raise ValueError(f"{path}: no safetensors files")
            paths = [os.path.join(path, n) for n in names]
        elif str(path).endswith(".qtf"):
            from . import _qtf
            self.kind, self.qtf = "qtf", _qtf.File(os.fspath(path))
            paths = []
            for n in self.qtf.keys():
                self.where[n] = None
        else:
            self.kind, paths = "safetensors", [path]
        for p in paths:
            st = _StFile(p)
            for n in st.header:
                self.where[n] = st

    def names(self):
        return list(self.where)

    def shape(self, name):
        st = self.where[name]
        return self.qtf.info(name)["shape"] if st is None else st.header[name]["shape"]

    def read_f32(self, name):
        st = self.where[name]
        if st is not None:
            return st.read(name)
        info = self.qtf.info(name)
        out = np.empty(info["shape"], dtype=np.float32)
        if info["n_elements"]:
            self.qtf.dequantize(name, "F32", out)
        return out


def open_source(path):
    return _Source(os.fspath(path))
