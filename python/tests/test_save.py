"""Writing from Python (recipe rules as qtf-convert), verify, folder export,
and a pure-torch Llama forward pass over an exported folder."""
import json
import math
import os

import numpy as np
import pytest
import torch

import qtf
from conftest import run, tool
from test_load import st_read


def test_save_load_verify_odd_shapes_and_metadata(tmp_path):
    rng = np.random.default_rng(7)
    tensors = {
        "w": rng.standard_normal((64, 96)).astype(np.float32),
        "scalar": np.array(3.25, dtype=np.float32),
        "empty": np.zeros((0, 32), dtype=np.float32),
        "ids": np.arange(-5, 7, dtype=np.int64).reshape(3, 4),
        "mask": np.array([True, False, True]),
        "half": rng.standard_normal((8, 64)).astype(np.float16),
    }
    meta = {"s": "héllo", "i": -7, "u": 2**64 - 1, "f": 0.5, "b": True,
            "blob": ("text/plain", b"\x00\x01raw"), "strs": ["a", "bc"],
            "ints": [1, 2, 3], "floats": [0.25, 1.5], "arr": np.array([1, 2], np.uint16)}
    p = tmp_path / "t.qtf"
    qtf.numpy.save_file(tensors, p, encoding="int8", rules=["half=q8_0"], metadata=meta)
    got = qtf.numpy.load_file(p)
    assert got["scalar"].shape == () and got["scalar"] == np.float32(3.25)
    assert got["empty"].shape == (0, 32) and got["empty"].dtype == np.float32
    assert np.array_equal(got["ids"], tensors["ids"]) and got["ids"].dtype == np.int64
    assert np.array_equal(got["mask"], tensors["mask"])
    assert got["half"].dtype == np.float16
    w = got["w"]
    rel = np.linalg.norm(w - tensors["w"]) / np.linalg.norm(tensors["w"])
    assert 0 < rel < 0.02  # int8 with one scale per row
    with qtf.safe_open(p, "np") as f:
        md, types = f.metadata(), f.metadata_types()
        assert f.info("w")["encoding"] == "int8" and f.info("half")["encoding"] == "q8_0"
        assert f.info("ids")["encoding"].startswith("raw")
    assert md["s"] == "héllo" and md["i"] == -7 and md["u"] == 2**64 - 1
    assert md["f"] == 0.5 and md["b"] is True and md["blob"] == b"\x00\x01raw"
    assert types["blob"] == "blob:text/plain" and types["u"] == "u64" and types["i"] == "i64"
    assert md["strs"] == ["a", "bc"] and md["ints"] == [1, 2, 3] and md["floats"] == [0.25, 1.5]
    assert md["arr"] == [1, 2] and types["arr"] == "array[u16]"
    assert md["qtf.converter"].startswith("qtf-python")
    rep = qtf.verify(p)
    assert rep["ok"] and all(t["ok"] for t in rep["tensors"])
    # torch twin: bf16 in, bf16 out, exact for a kept tensor
    t = {"norm": torch.randn(64).to(torch.bfloat16), "m": torch.randn(32, 64)}
    q = tmp_path / "t2.qtf"
    qtf.torch.save_file(t, q, encoding="int4:group=32")
    back = qtf.torch.load_file(q)
    assert back["norm"].dtype == torch.bfloat16 and torch.equal(back["norm"], t["norm"])
    assert qtf.torch.save(t)[:4] == b"\x89QTF"


def test_save_refuses_bad_input_and_leaves_nothing(tmp_path):
    p = tmp_path / "x.qtf"
    with pytest.raises(qtf.QtfError) as e:
        qtf.numpy.save_file({"w": np.ones((4, 30), np.float32)}, p, rules=["w=q4_0"])
    assert e.value.status in ("QTF_E_PARSE", "QTF_E_SHAPE") and "w" in str(e.value)
    with pytest.raises(qtf.QtfError) as e:
        qtf.numpy.save_file({"w": np.ones((4, 32), np.float32)}, p, encoding="int9")
    assert e.value.status == "QTF_E_PARSE"
    with pytest.raises(qtf.QtfError) as e:
        qtf.numpy.save_file({"w": np.ones(3, np.float32)}, p, metadata={"qtf.recipe": 5})
    assert e.value.status == "QTF_E_TYPE"
    assert not p.exists() and os.listdir(tmp_path) == []


def test_recipe_choice_is_qtf_convert_s(sample, tmp_path):
    rules = ["*mlp*=int4:group=32", "*q_proj*=pal4"]
    c = tmp_path / "c.qtf"
    run(tool("qtf-convert"), sample, c, "-e", "nf4:group=64", "-r", rules[0], "-r", rules[1],
        "-q")
    with qtf.safe_open(c, "pt") as f:
        src = {k: f.get_tensor(k) for k in f.keys()}
        want = {k: f.info(k)["encoding"] for k in f.keys()}
    # the same source values (bf16, exact) through the Python writer
    ref = {}
    for k, v in src.items():
        ref[k] = v
    p = tmp_path / "p.qtf"
    orig = {k: torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
            for k, a in qtf.numpy.load_file(c).items()}
    qtf.torch.save_file(orig, p, encoding="nf4:group=64", rules=rules)
    with qtf.safe_open(p, "pt") as f:
        got = {k: f.info(k)["encoding"] for k in f.keys()}
    assert got == want


def test_verify_has_qtf_verify_s_fields(sample, tmp_path):
    q = tmp_path / "v.qtf"
    run(tool("qtf-convert"), sample, q, "-e", "int4:group=32", "-q")
    c = json.loads(run(tool("qtf-verify"), q, "--json", "--against", sample).stdout)
    p = qtf.verify(q, against=sample)

    def keys(o):
        return sorted(o) if isinstance(o, dict) else None
    assert keys(p) == keys(c)
    assert keys(p["checks"]) == keys(c["checks"])
    assert keys(p["against"]) == keys(c["against"])
    assert keys(p["summary"]) == keys(c["summary"])
    assert p["ok"] == c["ok"] and p["against"]["compared"] == c["against"]["compared"]
    ct = {t["name"]: t for t in c["tensors"]}
    # every field of qtf-verify; "nonfinite"/"source_nonfinite" are the fields of
    # inspect/JSON-SCHEMA.md that the safety branch adds to qtf-verify
    newer = {"nonfinite", "source_nonfinite"}
    for t in p["tensors"]:
        assert set(ct[t["name"]]) <= set(t) <= set(ct[t["name"]]) | newer, t["name"]
        assert t["nonfinite"] == 0 and t["source_nonfinite"] == 0
        for k in ("rel_rmse", "cosine", "max_abs_err"):
            assert t[k] == pytest.approx(ct[t["name"]][k], rel=1e-9, abs=1e-12), (t["name"], k)
    assert p["summary"]["rel_rmse"] == pytest.approx(c["summary"]["rel_rmse"], rel=1e-9)
    strict = qtf.verify(q, against=sample, max_rel_rmse=1e-6)
    assert not strict["ok"] and any(f["check"] == "max_rel_rmse" for f in strict["failures"])


def test_export_folder_has_the_original_file_set(sample, tmp_path):
    q = tmp_path / "e.qtf"
    run(tool("qtf-convert"), sample, q, "-e", "bf16", "-q")
    out = tmp_path / "out"
    sizes = [os.path.getsize(p) for p in sample.glob("*.safetensors")]
    written = qtf.export_folder(q, out, max_shard_size=max(sizes))
    assert sorted(os.listdir(out)) == sorted(os.listdir(sample)) == sorted(written)
    for name in os.listdir(sample):
        if not name.endswith(".safetensors") and not name.endswith(".index.json"):
            assert (out / name).read_bytes() == (sample / name).read_bytes(), name
    idx = json.loads((out / "model.safetensors.index.json").read_text())
    orig = json.loads((sample / "model.safetensors.index.json").read_text())
    assert set(idx["weight_map"]) == set(orig["weight_map"])
    # values: bf16 kept exactly
    with qtf.safe_open(q, "pt") as f:
        for k, shard in idx["weight_map"].items():
            with open(out / shard, "rb") as fp:
                n = int.from_bytes(fp.read(8), "little")
                h = json.loads(fp.read(n))
                a, b = h[k]["data_offsets"]
                fp.seek(8 + n + a)
                raw = fp.read(b - a)
            assert h[k]["dtype"] == "BF16"
            assert raw == f.get_tensor(k).view(torch.int16).numpy().tobytes(), k
    one = tmp_path / "one"
    assert "model.safetensors" in qtf.export_folder(q, one, dtype="float32")
    with pytest.raises(FileExistsError, match="not empty"):
        qtf.export_folder(q, one)
    # qtf-convert model.qtf DIR/ writes the very same bytes
    c = tmp_path / "c"
    run(tool("qtf-convert"), q, f"{c}/", "--max-shard-size", str(max(sizes)), "-q")
    assert sorted(os.listdir(c)) == sorted(os.listdir(out))
    for name in os.listdir(c):
        assert (c / name).read_bytes() == (out / name).read_bytes(), name
    r = run(tool("qtf-convert"), q, f"{c}/", check=False)
    assert r.returncode == 2 and "not empty" in r.stderr
    r = run(tool("qtf-convert"), q, f"{tmp_path}/d2/", "-r", "*=int8", check=False)
    assert r.returncode == 2 and "folder output takes only --encoding" in r.stderr
    r = run(tool("qtf-convert"), sample, f"{tmp_path}/d3/", check=False)
    assert r.returncode == 2 and "needs a .qtf input" in r.stderr
    r = run(tool("qtf-convert"), q, f"{tmp_path}/d4/", "--max-shard-size", "5XB", check=False)
    assert r.returncode == 2 and "--max-shard-size" in r.stderr
    # default 5 GB: one file; --encoding f16 converts every float tensor
    run(tool("qtf-convert"), q, f"{tmp_path}/d5/", "--encoding", "f16", "-q")
    assert sorted(os.listdir(tmp_path / "d5")) == sorted(
        [n for n in os.listdir(sample) if "safetensors" not in n] + ["model.safetensors"])
    with open(tmp_path / "d5" / "model.safetensors", "rb") as fp:
        h = json.loads(fp.read(int.from_bytes(fp.read(8), "little")))
    assert {e["dtype"] for k, e in h.items() if k != "__metadata__"} == {"F16"}


# ---- a small pure-torch Llama ------------------------------------------------

def llama_logits(sd, cfg, ids):
    """Reference LlamaForCausalLM forward (no cache), float32."""
    sd = {k: v.to(torch.float32) for k, v in sd.items()}
    h, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = h // nh
    eps = cfg["rms_norm_eps"]

    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    T = ids.shape[0]
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.outer(torch.arange(T).float(), inv)
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()

    def rope(x):
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin
    x = sd["model.embed_tokens.weight"][ids]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = norm(x, sd[p + "input_layernorm.weight"])
        q = (a @ sd[p + "self_attn.q_proj.weight"].T).view(T, nh, hd).transpose(0, 1)
        k = (a @ sd[p + "self_attn.k_proj.weight"].T).view(T, nkv, hd).transpose(0, 1)
        v = (a @ sd[p + "self_attn.v_proj.weight"].T).view(T, nkv, hd).transpose(0, 1)
        q, k = rope(q), rope(k)
        k, v = k.repeat_interleave(nh // nkv, 0), v.repeat_interleave(nh // nkv, 0)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, -1)
        x = x + (att @ v).transpose(0, 1).reshape(T, h) @ sd[p + "self_attn.o_proj.weight"].T
        m = norm(x, sd[p + "post_attention_layernorm.weight"])
        g = torch.nn.functional.silu(m @ sd[p + "mlp.gate_proj.weight"].T)
        x = x + (g * (m @ sd[p + "mlp.up_proj.weight"].T)) @ sd[p + "mlp.down_proj.weight"].T
    x = norm(x, sd["model.norm.weight"])
    head = sd.get("lm_head.weight", sd["model.embed_tokens.weight"])
    return x @ head.T


def load_folder(d):
    from qtf._safetensors import open_source
    src = open_source(d)
    return {n: torch.from_numpy(src.read_f32(n)) for n in src.names()}


@pytest.mark.shared
@pytest.mark.parametrize("enc", ["keep", "int8"])
def test_exported_folder_runs_a_llama_forward_pass(aidreams, tmp_path, enc):
    q = tmp_path / "m.qtf"
    run(tool("qtf-convert"), aidreams, q, "-e", enc, "--all-layers", "-q")
    out = tmp_path / "hf"
    qtf.export_folder(q, out)
    assert (out / "config.json").read_bytes() == open(os.path.join(aidreams, "config.json"),
                                                      "rb").read()
    assert (out / "generation_config.json").read_bytes() == open(
        os.path.join(aidreams, "generation_config.json"), "rb").read()
    cfg = json.loads((out / "config.json").read_text())
    ids = torch.tensor([1, 45, 300, 7, 99, 2, 511, 0])
    ref = llama_logits(load_folder(aidreams), cfg, ids)
    got = llama_logits(load_folder(out), cfg, ids)
    direct = llama_logits(qtf.torch.load_file(q), cfg, ids)
    assert torch.equal(got, direct)
    if enc == "keep":
        assert torch.equal(got, ref), "f32 kept: logits must be identical"
    else:
        rel = (got - ref).norm() / ref.norm()
        assert 0 < rel < 0.05, f"int8 logits rel error {rel:.4f}"
        assert (got.argmax(-1) == ref.argmax(-1)).float().mean() >= 0.75


def test_verify_counts_nonfinite_values(tmp_path):
    w = np.ones((2, 64), np.float32)
    w[1, 3] = np.nan
    p = tmp_path / "nan.qtf"
    qtf.numpy.save_file({"w": w}, p, rules=["w=f32"])
    rep = qtf.verify(p)
    t = rep["tensors"][0]
    assert t["nonfinite"] == 1 and rep["ok"]  # a float tensor may hold NaN
    ref = tmp_path / "ref.qtf"
    w2 = w.copy()
    w2[1, 3] = 0.0
    qtf.numpy.save_file({"w": w2}, ref, rules=["w=f32"])
    rep = qtf.verify(p, against=ref)
    assert not rep["ok"] and rep["tensors"][0]["failures"] == ["nonfinite"]
    rep = qtf.verify(ref, against=p)  # NaN in the source: not compared
    assert rep["tensors"][0]["source_nonfinite"] == 1 and rep["tensors"][0]["rel_rmse"] is None
