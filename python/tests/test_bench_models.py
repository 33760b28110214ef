"""The model-level tools under bench/ that need no ../shared (issue 15):
model_quality.py's paired confidence interval, and train_byte_llama.py,
which trains the held-out models that --target-bpw is judged on. Their
figures go into bench/RESULTS.md, so they are checked against hand-computed
values and against torch's own autograd."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

SOURCE = os.environ.get("QTF_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
BENCH = os.path.join(SOURCE, "bench")
sys.path.insert(0, BENCH)

torch = pytest.importorskip("torch")
import model_quality as mq  # noqa: E402
import train_byte_llama as tb  # noqa: E402


def test_paired_interval_by_hand():
    # differences 0, 1, 2, 3 bits on a reference of 10 bits: 0, 10, 20, 30 %;
    # mean 15, sample standard deviation sqrt(500/3), n = 4; Student's t for
    # 3 degrees of freedom is 3.182 (the expansion gives 3.159, within 1%)
    m, h = mq.paired([1, 2, 3, 4], [1, 1, 1, 1], 10.0)
    assert m == pytest.approx(15.0)
    assert h == pytest.approx(3.182 * math.sqrt(500.0 / 3.0) / 2.0, rel=0.01)
    # 16 windows, as aidreams has: t(0.975, 15) = 2.131
    a = np.arange(16.0)
    assert mq.paired(a, np.zeros(16), 100.0)[1] == pytest.approx(
        2.131 * a.std(ddof=1) / 4.0, rel=1e-3)
    # the same per-window figures: no difference, no width
    assert mq.paired([3, 5], [3, 5], 4.0) == (0.0, 0.0)


@pytest.mark.parametrize("batched", [False, True])
def test_mkldnn_matmul_gradients_equal_torch_autograd(batched):
    g = torch.Generator().manual_seed(3)
    shape_a, shape_b = ((3, 5, 7), (3, 4, 7)) if batched else ((5, 7), (4, 7))
    a = torch.randn(shape_a, generator=g, requires_grad=True)
    b = torch.randn(shape_b, generator=g, requires_grad=True)
    w = torch.randn(shape_a[:-1] + (shape_b[-2],), generator=g)
    (tb.mm_t(a, b) * w).sum().backward()
    ga, gb = a.grad.clone(), b.grad.clone()
    a.grad = b.grad = None
    (torch.matmul(a, b.transpose(-1, -2)) * w).sum().backward()
    assert torch.allclose(ga, a.grad, atol=1e-5) and torch.allclose(gb, b.grad, atol=1e-5)


def test_training_a_tiny_model_is_judged_as_it_trained(tmp_path):
    headers = tmp_path / "inc"
    headers.mkdir()
    text = b"".join(b"#define NAME_%d %d /* value %d */\nint f%d(void);\n" % (i, i, i * 7, i)
                    for i in range(400))
    (headers / "a.h").write_bytes(text)
    (headers / "sqlite3.h").write_bytes(b"held out\n" * 1000)   # excluded by name
    (headers / "notes.txt").write_bytes(b"not a header\n" * 1000)
    data, n = tb.corpus(str(headers))
    assert n == 1 and data.tobytes() == text

    out = tmp_path / "m"
    cmd = [sys.executable, os.path.join(BENCH, "train_byte_llama.py"), str(out),
           "--corpus", str(headers), "--layers", "1", "--hidden", "64", "--ffn", "128",
           "--heads", "2", "--kv-heads", "1", "--ctx", "32", "--batch", "8", "--steps", "60",
           "--warmup", "5", "--lr", "1e-2", "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["num_key_value_heads"] == 1 and cfg["head_dim"] == 32
    result = json.loads((out / "train_result.json").read_text())
    assert result["training"]["final_train_loss_nats"] < 0.8 * math.log(256), result
    w = mq.st_read(str(out / "model.safetensors"))
    for name, v in w.items():   # bf16 values, as bytes-c is stored
        assert not (v.view(np.uint32) & 0xFFFF).any(), name
    # model_quality's forward pass and the trainer's agree on the trained weights
    ids = np.frombuffer(text[:32 * 6], dtype=np.uint8).astype(np.int64).reshape(6, 32)
    m = tb.Model(cfg, {k: torch.from_numpy(v.copy()) for k, v in w.items()})
    with torch.no_grad():
        trainer_bits = float(m.loss(torch.as_tensor(ids))) / math.log(2)
    assert mq.Llama(cfg, w).mean_bits(list(ids)) == pytest.approx(trainer_bits, rel=1e-5)
    # never overwrites a model
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode != 0 and "exists" in r.stderr, r.stderr


class _PlainLlama(mq.Llama):
    """The forward pass on torch's own matmul and autograd, keeping every
    linear layer's input and output: an independent route to the Fisher
    statistics that Llama.sensitivity gathers through MKL-DNN and hooks."""

    def __init__(self, cfg, weights):
        super().__init__(cfg, weights)
        self.dense = dict(self.w)   # the test swaps the embedding's lookup in self.w
        self.seen = []

    def _lin(self, name, x):
        y = torch.matmul(x, self.dense[name].t())
        y.retain_grad()
        self.seen.append((name, x.detach().reshape(-1, x.shape[-1]), y))
        return y

    def _bmm_t(self, a, b):
        return torch.matmul(a, b.transpose(-1, -2))


@pytest.mark.parametrize("tied", [False, True])
def test_sensitivity_equals_the_fisher_statistics_by_torch_autograd(tied):
    import types
    a = types.SimpleNamespace(hidden=32, ffn=48, layers=2, heads=4, kv_heads=2, ctx=24)
    cfg = tb.config(a)
    params = tb.init_params(cfg, torch.Generator().manual_seed(5))
    w = {k: v.numpy().astype(np.float32) for k, v in params.items()}
    if tied:
        del w["lm_head.weight"]
    rng = np.random.default_rng(7)
    # two window lengths: batches never mix them (group_by_length)
    windows = [rng.integers(0, 256, 24) for _ in range(5)] + [rng.integers(0, 256, 9)]
    got, imp = mq.Llama(cfg, w).sensitivity(windows, batch=2)
    # the same pass gives the importance vectors, as importance() does
    plain = mq.Llama(cfg, w).importance(windows, batch=2)
    assert sorted(imp) == sorted(plain)
    for name in plain:
        np.testing.assert_allclose(imp[name], plain[name], rtol=1e-6)

    ref = _PlainLlama(cfg, w)
    g2, x2, emb, n = {}, {}, 0.0, 0
    E = torch.from_numpy(w["model.embed_tokens.weight"]).double()
    for ids in windows:
        ids = torch.as_tensor(ids, dtype=torch.long)[None]
        ref.seen = []
        e = ref.w["model.embed_tokens.weight"][ids].detach().requires_grad_(True)
        ref.w["model.embed_tokens.weight"], keep = _Rows(e), ref.w["model.embed_tokens.weight"]
        lg = ref.logits(ids)[:, :-1]
        ref.w["model.embed_tokens.weight"] = keep
        torch.nn.functional.cross_entropy(lg.reshape(-1, lg.shape[-1]), ids[:, 1:].reshape(-1),
                                          reduction="sum").backward()
        for name, x, y in ref.seen:
            g = y.grad.reshape(-1, y.shape[-1]).double()
            g2[name] = g2.get(name, 0) + g.pow(2).sum(0)
            x2[name] = x2.get(name, 0) + x.double().pow(2).sum(0)
        emb += float((e.grad.double().pow(2) * E[ids].pow(2)).sum())
        n += ids.numel()
    want = {name: float((g2[name] / n) @ torch.from_numpy(w[name]).double().pow(2) @ (x2[name] / n))
            for name in g2}
    want["model.embed_tokens.weight"] = want.get("model.embed_tokens.weight", 0.0) + emb / n
    assert sorted(got) == sorted(want) and len(got) == 2 * 7 + 2 - tied
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-4), name
        assert want[name] > 0
    # the statistics differ across tensors (what the allocation uses them for)
    assert max(got.values()) > 3 * min(got.values())


class _Rows:
    """Stands for the embedding matrix: its lookup returns the given rows."""

    def __init__(self, rows):
        self.rows = rows

    def __getitem__(self, ids):
        return self.rows


def test_divergence_is_zero_against_itself_and_matches_torch_kl_div():
    import types
    a = types.SimpleNamespace(hidden=32, ffn=48, layers=1, heads=4, kv_heads=2, ctx=16)
    cfg = tb.config(a)
    w = {k: v.numpy().astype(np.float32)
         for k, v in tb.init_params(cfg, torch.Generator().manual_seed(11)).items()}
    rng = np.random.default_rng(2)
    windows = [rng.integers(0, 256, 16) for _ in range(5)]
    keep = []
    base = mq.Llama(cfg, w).window_bits(windows, batch=2, keep=keep)
    assert len(keep) == 3                         # batches of 2, 2, 1
    same, kl0 = mq.Llama(cfg, w).window_bits(windows, batch=2, ref=keep)
    np.testing.assert_array_equal(same, base)
    assert np.all(kl0 == 0.0)
    # a softer head: the divergence of each window is torch's kl_div of the
    # two distributions, averaged over its 15 predicted positions, in bits
    w2 = dict(w, **{"lm_head.weight": w["lm_head.weight"] * np.float32(0.5)})
    _, kl = mq.Llama(cfg, w2).window_bits(windows, batch=2, ref=keep)
    ids = torch.as_tensor(np.stack(windows), dtype=torch.long)
    p = torch.log_softmax(mq.Llama(cfg, w).logits(ids)[:, :-1].detach().double(), -1)
    q = torch.log_softmax(mq.Llama(cfg, w2).logits(ids)[:, :-1].detach().double(), -1)
    want = torch.nn.functional.kl_div(q, p, log_target=True, reduction="none").sum(-1)
    want = (want.mean(1) / math.log(2)).numpy()
    assert np.all(want > 0)
    np.testing.assert_allclose(kl, want, rtol=1e-4, atol=1e-9)
