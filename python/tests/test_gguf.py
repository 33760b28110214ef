"""GGUF files from Python: qtf.safe_open / qtf.torch.load_file on llama.cpp's
own files (../shared/gguf), values bit for bit against the fixtures'
*.ref.safetensors (every tensor as ggml itself dequantizes it, F32)."""
import glob
import json
import os

import numpy as np
import pytest
import torch

import qtf

pytestmark = pytest.mark.shared


def read_ref(path):
    with open(path, "rb") as fp:
        n = int.from_bytes(fp.read(8), "little")
        h = json.loads(fp.read(n))
        data = fp.read()
    meta = h.pop("__metadata__")
    out = {}
    for k, e in h.items():
        a, b = e["data_offsets"]
        assert e["dtype"] == "F32"
        out[k] = np.frombuffer(data[a:b], dtype=np.float32).reshape(e["shape"])
    return out, json.loads(meta["ggml_types"])


def fixtures(d):
    refs = sorted(glob.glob(os.path.join(d, "*", "*.ref.safetensors")))
    assert len(refs) >= 10, f"expected the fixtures' reference files in {d}"
    return [(r[:-len(".ref.safetensors")] + ".gguf", r) for r in refs]


def test_every_fixture_decodes_bit_for_bit(gguf_dir):
    n_files = n_tensors = 0
    for gguf, ref_path in fixtures(gguf_dir):
        ref, types = read_ref(ref_path)
        with qtf.safe_open(gguf, framework="np") as f:
            assert list(f.keys()) == list(ref), gguf  # the GGUF's names and order
            for k, want in ref.items():
                info = f.info(k)
                assert info["ggml_type"] == types[k], (gguf, k)
                assert tuple(info["shape"]) == want.shape, (gguf, k)  # ne reversed
                got = f.get_tensor(k)
                assert got.dtype == np.float32
                assert got.tobytes() == want.tobytes(), f"{gguf}: {k} ({types[k]})"
                # f16: the f32 values rounded to nearest even (numpy's rounding)
                assert np.array_equal(f.get_tensor(k, dtype="float16"), want.astype(np.float16),
                                      equal_nan=True), (gguf, k)
                n_tensors += 1
        n_files += 1
    assert n_files >= 10 and n_tensors >= 100


@pytest.mark.parametrize("name", ["synth/model-Q4_K_M", "synth/model-Q6_K",
                                  "aidreams-260k/model-Q5_1", "aidreams-260k/model-MXFP4_MOE"])
def test_torch_load_file_slices_and_bf16(gguf_dir, name):
    gguf = os.path.join(gguf_dir, name + ".gguf")
    ref, types = read_ref(os.path.join(gguf_dir, name + ".ref.safetensors"))
    sd = qtf.torch.load_file(gguf)
    assert list(sd) == list(ref)
    for k, v in sd.items():
        assert v.dtype == torch.float32 and torch.equal(v, torch.from_numpy(ref[k].copy()))
    bf = qtf.torch.load_file(gguf, dtype=torch.bfloat16, threads=2)
    for k, v in bf.items():
        assert v.dtype == torch.bfloat16
        assert torch.equal(v, torch.from_numpy(ref[k].copy()).to(torch.bfloat16)), k
    with qtf.safe_open(gguf, "pt") as f:
        mats = [k for k in f.keys() if len(f.info(k)["shape"]) == 2]
        for k in mats:
            sl = f.get_slice(k)
            assert sl.get_shape() == list(ref[k].shape)
            rows = sl[3:7]  # decodes only those rows' blocks
            assert torch.equal(rows, torch.from_numpy(ref[k][3:7].copy())), k
            assert torch.equal(sl[-1], torch.from_numpy(ref[k][-1].copy())), k
            assert torch.equal(sl[1:9:3], torch.from_numpy(ref[k][1:9:3].copy())), k
        with pytest.raises(qtf.QtfNotFoundError, match="no tensor named 'nope'"):
            f.get_tensor("nope")


def test_info_and_metadata(gguf_dir):
    with qtf.safe_open(os.path.join(gguf_dir, "synth", "model-Q4_K_M-mix.gguf"), "np") as f:
        info = {k: f.info(k) for k in f.keys()}
        m, types = f.metadata(), f.metadata_types()
    # llama-quantize's Q4_K_M mixture (fixture README): Q6_K for token_embd,
    # attn_v and ffn_down, Q4_K for the other matrices, norms F32
    assert info["token_embd.weight"]["ggml_type"] == "Q6_K"
    assert info["blk.0.attn_v.weight"]["ggml_type"] == "Q6_K"
    assert info["blk.0.attn_q.weight"]["ggml_type"] == "Q4_K"
    assert info["output_norm.weight"]["ggml_type"] == "F32"
    # bits per weight = block bytes * 8 / block elements: Q4_K 144 B / 256,
    # Q6_K 210 B / 256, F32 4 B / 1
    assert info["blk.0.attn_q.weight"]["bits_per_weight"] == 144 * 8 / 256 == 4.5
    assert info["token_embd.weight"]["bits_per_weight"] == 210 * 8 / 256 == 6.5625
    assert info["output_norm.weight"]["bits_per_weight"] == 32.0
    q = info["blk.0.attn_q.weight"]
    assert q["shape"] == (256, 256) and q["nbytes"] == 256 * 144 and q["encoding"] == "q4_k"
    # keys and types as llama.cpp wrote them (fixture README)
    assert m["general.architecture"] == "llama" and types["general.architecture"] == "string"
    assert m["llama.embedding_length"] == 256 and types["llama.embedding_length"] == "u32"
    assert m["llama.attention.head_count_kv"] == 2
    assert m["general.quantization_version"] == 2
    assert types["tokenizer.ggml.tokens"] == "array[string]"
    assert len(m["tokenizer.ggml.tokens"]) == m["llama.vocab_size"] == 512
    assert m["tokenizer.ggml.tokens"][:3] == ["<unk>", "<s>", "</s>"]
    assert m["tokenizer.ggml.token_type"][:4] == [2, 3, 3, 6]  # UNKNOWN, CONTROL x2, BYTE
    assert m["tokenizer.ggml.bos_token_id"] == 1


def test_numpy_bf16_is_refused_and_not_gguf_is_qtf(gguf_dir, tmp_path):
    gguf = os.path.join(gguf_dir, "synth", "model-Q8_0.gguf")
    with qtf.safe_open(gguf, "np") as f:
        with pytest.raises(TypeError, match="numpy has no bfloat16"):
            f.get_tensor(f.keys()[1], dtype="bfloat16")
    # by content: a GGUF renamed .qtf is still read as GGUF
    other = tmp_path / "renamed.qtf"
    other.write_bytes(open(gguf, "rb").read())
    with qtf.safe_open(other, "np") as f:
        assert f.info("token_embd.weight")["ggml_type"] == "Q8_0"
    bad = tmp_path / "trunc.gguf"
    bad.write_bytes(open(gguf, "rb").read()[:5000])
    with pytest.raises(qtf.QtfError) as e:
        qtf.safe_open(bad, "np")
    assert e.value.status == "QTF_E_TRUNCATED" and "trunc.gguf" in e.value.detail
