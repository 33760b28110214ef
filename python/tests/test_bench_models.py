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
