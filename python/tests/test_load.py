"""Loading: every encoding family bit for bit against the C tools, dtypes,
zero-copy views, slices, info, metadata, errors."""
import json

import numpy as np
import pytest
import torch

import qtf
from conftest import run, tool

FAMILIES = ["f32", "f16", "bf16", "int8", "int4:group=32", "int3:group=16,asym",
            "int4:group=32,dq", "nf4:group=64", "fp4:group=32", "mxfp4", "q8_0", "q4_0",
            "q4_1", "pal4", "pal3:rows=3,rowscale", "pal2:dim=2,rows=2,lut=int8",
            "int4:group=32,zstd", "q5_1", "q4_k", "q6_k", "iq4_xs"]


def st_read(path):
    """Reference reader of a safetensors file written by qtf-convert."""
    with open(path, "rb") as fp:
        n = int.from_bytes(fp.read(8), "little")
        h = json.loads(fp.read(n))
        base = 8 + n
        data = fp.read()
    out = {}
    for k, e in h.items():
        if k == "__metadata__":
            continue
        a, b = e["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[e["dtype"]]
        out[k] = np.frombuffer(data[a:b], dtype=dt).reshape(e["shape"])
    assert base > 8
    return out


@pytest.fixture(scope="module")
def converted(sample, tmp_path_factory):
    d = tmp_path_factory.mktemp("fam")
    files = {}
    for enc in FAMILIES:
        q = d / (enc.replace(":", "_").replace(",", "_").replace("=", "") + ".qtf")
        run(tool("qtf-convert"), sample, q, "--encoding", enc, "--all-layers", "-q")
        st = q.with_suffix(".safetensors")
        run(tool("qtf-convert"), q, st, "--encoding", "f32", "-q")
        files[enc] = (q, st)
    return files


@pytest.mark.parametrize("enc", FAMILIES)
def test_family_matches_c_tool_bit_for_bit(converted, enc):
    q, st = converted[enc]
    ref = st_read(st)
    got = qtf.numpy.load_file(q, dtype="float32")
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].dtype == np.float32 and got[k].shape == ref[k].shape
        assert got[k].tobytes() == ref[k].tobytes(), f"{enc}: {k} differs from qtf-convert"
    with qtf.safe_open(q, "np") as f:
        encs = {f.info(k)["encoding"] for k in f.keys() if len(f.info(k)["shape"]) == 2}
    assert qtf.encoding(enc) in encs


@pytest.mark.parametrize("enc", ["int4:group=32", "pal4", "int4:group=32,dq", "bf16"])
def test_dtypes_are_the_rounded_f32_decode(converted, enc):
    q, _ = converted[enc]
    f32 = qtf.torch.load_file(q, dtype=torch.float32)
    for dt in (torch.float16, torch.bfloat16):
        got = qtf.torch.load_file(q, dtype=dt, threads=1)
        for k, v in got.items():
            assert v.dtype == dt
            assert torch.equal(v, f32[k].to(dt)), k
    # default: the source dtype (the sample is bf16)
    d = qtf.torch.load_file(q)
    assert {v.dtype for v in d.values()} == {torch.bfloat16}
    # numpy: bf16 sources default to float32; asking for bf16 is a clear error
    n = qtf.numpy.load_file(q)
    assert {v.dtype for v in n.values()} == {np.dtype(np.float32)}
    with qtf.safe_open(q, "np") as f:
        with pytest.raises(TypeError, match="numpy has no bfloat16"):
            f.get_tensor(f.keys()[0], dtype="bfloat16")


def test_threads_do_not_change_values(converted):
    q, _ = converted["pal3:rows=3,rowscale"]
    a = qtf.torch.load_file(q, dtype=torch.float32, threads=1)
    b = qtf.torch.load_file(q, dtype=torch.float32, threads=2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_zero_copy_views_outlive_the_file_and_do_not_write_it(converted):
    q, _ = converted["bf16"]
    before = q.read_bytes()
    with qtf.safe_open(q, "pt") as f:
        name = [k for k in f.keys() if "proj" in k][0]
        t = f.get_tensor(name)  # bf16 stored, bf16 asked: a view of the mapping
        u = f.get_tensor(name)
    assert t.dtype == torch.bfloat16
    assert t.data_ptr() == u.data_ptr(), "expected the same mapped bytes (zero-copy)"
    with qtf.safe_open(q, "pt") as f:
        rows, whole = f.get_slice(name)[3:5], f.get_tensor(name)
    assert torch.equal(rows, u[3:5])
    assert rows.data_ptr() == whole[3:5].data_ptr(), "a slice of a plain tensor is a view too"
    t.mul_(2)  # copy-on-write mapping: the file is untouched
    assert q.read_bytes() == before
    with qtf.safe_open(q, "np") as f:
        a = f.get_tensor(name, dtype="float32")
    assert not np.shares_memory(a, a.copy())


def test_slices_decode_rows(converted):
    for enc in ("int4:group=32", "pal3:rows=3,rowscale", "int4:group=32,dq", "f32",
                "int4:group=32,zstd"):
        q, _ = converted[enc]
        with qtf.safe_open(q, "pt") as f:
            for name in f.keys():
                full = f.get_tensor(name)
                sl = f.get_slice(name)
                assert sl.get_shape() == list(full.shape)
                if full.dim() == 0:
                    continue
                n = full.shape[0]
                for idx in (slice(0, 1), slice(1, 4), slice(n - 3, None), slice(None, None, 2),
                            slice(5, 2), 0, -1, (slice(1, 3), 0)):
                    try:
                        expect = full[idx]
                    except IndexError:
                        continue
                    got = sl[idx]
                    assert got.dtype == full.dtype
                    assert torch.equal(got, expect), f"{enc} {name}[{idx}]"


def test_slice_of_3d_tensor_and_errors(tmp_path):
    x = np.arange(4 * 3 * 64, dtype=np.float32).reshape(4, 3, 64) / 100
    p = tmp_path / "t.qtf"
    qtf.numpy.save_file({"x": x}, p, encoding="int8", rules=["x=int8"])
    with qtf.safe_open(p, "np") as f:
        full = f.get_tensor("x")
        assert np.array_equal(f.get_slice("x")[1:3], full[1:3])
        assert np.array_equal(f.get_slice("x")[2], full[2])
        with pytest.raises(IndexError):
            f.get_slice("x")[4]


def test_info_matches_qtf_inspect(converted):
    q, _ = converted["int4:group=32,dq"]
    js = json.loads(run(tool("qtf-inspect"), q, "--json").stdout)
    with qtf.safe_open(q, "np") as f:
        for t in js["tensors"]:
            i = f.info(t["name"])
            assert list(i["shape"]) == t["shape"]
            assert i["encoding"] == t["encoding"]
            assert i["checksum"] == t["checksum"]
            assert i["bits_per_weight"] == pytest.approx(t["bits_per_weight"])
            assert i["source_type"] == t["source_type"]


def test_metadata_embedded_files_are_bytes(converted, sample):
    q, _ = converted["int8"]
    with qtf.safe_open(q, "np") as f:
        md = f.metadata()
        types = f.metadata_types()
    assert md["hf.file.config.json"] == (sample / "config.json").read_bytes()
    assert types["hf.file.config.json"] == "blob:application/json"
    assert md["hf.config.hidden_size"] == 256 and isinstance(md["hf.config.rms_norm_eps"], float)
    assert md["qtf.source.files"] == sorted(p.name for p in sample.glob("*.safetensors"))
    assert md["hf.config.tie_word_embeddings"] is False


def test_errors(converted, tmp_path):
    q, _ = converted["int8"]
    with qtf.safe_open(q, "np") as f:
        with pytest.raises(qtf.QtfNotFoundError) as e:
            f.get_tensor("no.such.tensor")
        assert e.value.status == "QTF_E_NOT_FOUND" and "no.such.tensor" in e.value.detail
        assert isinstance(e.value, KeyError) and isinstance(e.value, qtf.QtfError)
    with pytest.raises(ValueError, match="framework 'tf' is not supported"):
        qtf.safe_open(q, framework="tf")
    with pytest.raises(ValueError, match="device"):
        qtf.safe_open(q, framework="np", device="cuda")
    bad = tmp_path / "bad.qtf"
    bad.write_bytes(b"not a qtf file at all" * 10)
    with pytest.raises(qtf.QtfError) as e:
        qtf.safe_open(bad)
    assert e.value.status == "QTF_E_MAGIC" and "bad.qtf" in str(e.value)
    with pytest.raises(qtf.QtfError) as e:
        qtf.safe_open(tmp_path / "missing.qtf")
    assert e.value.status == "QTF_E_IO"
    trunc = tmp_path / "trunc.qtf"
    trunc.write_bytes(q.read_bytes()[:-7])
    with pytest.raises(qtf.QtfError) as e:
        qtf.safe_open(trunc)
    assert e.value.status in ("QTF_E_TRUNCATED", "QTF_E_HEADER", "QTF_E_OFFSET")


def test_corrupt_zstd_part_is_named(converted, tmp_path):
    q, _ = converted["int4:group=32,zstd"]
    with qtf.safe_open(q, "np") as f:
        name = next(k for k in f.keys() if any(p["compression"] == "zstd"
                                                for p in f.info(k)["parts"]))
        part = next(p for p in f.info(name)["parts"] if p["compression"] == "zstd")
    b = bytearray(q.read_bytes())
    for i in range(part["offset"] + 4, part["offset"] + part["stored_size"]):
        b[i] ^= 0x5A
    bad = tmp_path / "z.qtf"
    bad.write_bytes(bytes(b))
    with qtf.safe_open(bad, "np") as f:
        with pytest.raises(qtf.QtfError) as e:
            f.get_tensor(name)
    assert e.value.status == "QTF_E_COMPRESSION" and name in e.value.detail
    for threads in (1, 2):  # the batch load names it too, whichever thread met it
        with pytest.raises(qtf.QtfError) as e:
            qtf.numpy.load_file(bad, threads=threads)
        assert e.value.status == "QTF_E_COMPRESSION" and name in e.value.detail
    rep = qtf.verify(bad)
    assert rep["ok"] is False
    t = next(t for t in rep["tensors"] if t["name"] == name)
    assert t["checksum_ok"] is False and "checksum" in t["failures"]
    assert any(x["tensor"] == name and x["check"] == "checksum" for x in rep["failures"])


def test_threads_decode_concurrently_and_close_is_deferred(converted):
    import threading
    q, _ = converted["int4:group=32"]
    f = qtf.safe_open(q, "np")
    names = f.keys()
    ref = {k: f.get_tensor(k, dtype="float32") for k in names}
    errors, done = [], []

    def work():
        try:
            for _ in range(5):
                for k in names:
                    assert np.array_equal(f.get_tensor(k, dtype="float32"), ref[k])
            done.append(1)
        except ValueError as e:  # the file was closed between two calls
            assert "closed" in str(e)
            done.append(0)
        except BaseException as e:  # pragma: no cover - the failure being tested
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    f.close()
    for t in threads:
        t.join()
    assert not errors and len(done) == 4
    with pytest.raises(ValueError, match="closed"):
        f.get_tensor(names[0])


def test_numpy_works_without_torch(converted):
    import subprocess
    import sys
    q, _ = converted["int8"]
    code = (
        "import sys; sys.modules['torch'] = None\n"  # import torch now fails
        "import qtf\n"
        f"d = qtf.numpy.load_file({str(q)!r})\n"
        "assert len(d) > 0 and 'torch' not in [m for m in sys.modules if sys.modules[m]]\n"
        "try:\n"
        f"    qtf.safe_open({str(q)!r}, framework='pt')\n"
        "except ImportError as e:\n"
        "    assert 'python3-torch' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
        "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _st_write(path, tensors):
    """Minimal safetensors writer (F32 only) for hand-made checkpoints."""
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        b = np.ascontiguousarray(a, dtype=np.float32).tobytes()
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fp:
        fp.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def test_conv1d_weight_comes_back_in_its_own_shape(tmp_path):
    """GPT-2's Conv1D weight [in, out] is stored transposed (groups along the
    input, format 1.1); get_tensor, get_slice and info see [in, out]. The
    values are exactly int4-representable along the input axis only."""
    i_, o_ = np.arange(128)[:, None], np.arange(64)[None, :]
    k = np.where(i_ % 32 == 0, -8, (i_ * 7 + o_ * 3) % 15 - 7)
    w = np.ldexp(k.astype(np.float32), -(o_ % 8)).astype(np.float32)
    ck = tmp_path / "gpt2ish"
    ck.mkdir()
    _st_write(ck / "model.safetensors", {"transformer.h.0.mlp.c_fc.weight": w})
    (ck / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"], "n_embd": 64}')
    q = tmp_path / "g.qtf"
    run(tool("qtf-convert"), ck, q, "-e", "int4:group=32", "-q")
    with qtf.safe_open(q, framework="np") as f:
        name = "transformer.h.0.mlp.c_fc.weight"
        info = f.info(name)
        assert info["layout"] == "transposed" and list(info["shape"]) == [128, 64]
        got = f.get_tensor(name)
        assert got.shape == (128, 64) and np.array_equal(got, w)
        assert np.array_equal(f.get_slice(name)[3:40], w[3:40])
        assert np.array_equal(f.get_slice(name)[77], w[77])
        h = f.get_tensor(name, dtype="float16")
        assert np.array_equal(h, w.astype(np.float16))
    with qtf.safe_open(q, framework="pt") as f:
        assert torch.equal(f.get_tensor(name), torch.from_numpy(w))


@pytest.mark.parametrize("enc", ["int4:group=32", "int4:group=32,zstd", "pal3:rows=3,rowscale",
                                 "q4_k", "int3:group=16,asym", "f16"])
def test_load_file_batch_equals_get_tensor(converted, enc):
    """load_file decodes all tensors at once into one arena, in (tensor, row
    range) items over threads: the same values as get_tensor, tensor by
    tensor, for every thread count and dtype, and the views outlive the file
    and the other tensors."""
    import gc
    q, _ = converted[enc]
    for dt in (torch.bfloat16, torch.float16, torch.float32):
        with qtf.safe_open(q, "pt") as f:
            ref = {k: f.get_tensor(k, dtype=dt) for k in f.keys()}
        for threads in (1, 2, 3):
            got = qtf.torch.load_file(q, dtype=dt, threads=threads)
            assert list(got) == list(ref)
            for k in ref:
                assert got[k].dtype == dt and got[k].shape == ref[k].shape
                assert torch.equal(got[k].view(torch.int8), ref[k].view(torch.int8)), (enc, k)
    big = max(got, key=lambda k: got[k].numel())
    keep, expect = got[big], ref[big].clone()
    del got
    gc.collect()
    junk = [torch.ones(1 << 20) for _ in range(8)]  # would reuse freed memory
    assert torch.equal(keep, expect) and len(junk) == 8
    n = qtf.numpy.load_file(q, dtype="float16", threads=2)
    assert all(np.array_equal(n[k], ref[k].to(torch.float16).numpy()) for k in ref)


def test_batch_load_gives_back_mapped_pages_and_they_read_again(converted):
    """load_many drops the mapped pages of each decoded tensor's bytes
    (MADV_DONTNEED on the private mapping): the same File decodes them again
    to the same values, and plain tensors' views (zero-copy) are untouched."""
    q, _ = converted["int4:group=32"]
    with qtf.safe_open(q, "pt") as f:
        names = [k for k in f.keys() if f._f.zero_copy(k) is None]
        plain = [k for k in f.keys() if f._f.zero_copy(k) is not None]
        views = {k: f.get_tensor(k) for k in plain}
        snap = {k: v.clone() for k, v in views.items()}
        arena, offsets = f._f.load_many([(k, "F32") for k in names], 2)
        for k, off in zip(names, offsets):
            shape = f.info(k)["shape"]
            got = f._arena_view(arena, off, "F32", shape)
            assert torch.equal(got, f.get_tensor(k, dtype=torch.float32)), k
        assert all(torch.equal(views[k], snap[k]) for k in plain)
    assert names and plain
