"""bench/model_quality.py (issue 15): the model-level measurement that
judges --target-bpw. Its figures must be right, since bench/RESULTS.md and
the judgement of held-out models rest on them: a model given as a folder
(sharded) scores exactly as the preset, whose figure is the one measured
in bench/RESULTS.md, int8 costs nearly nothing, and a budget is met. (The
bytes-c baseline, reproduced to 1e-8 of its train_result.json, takes over a
minute: `model_quality.py baseline` prints the comparison.)"""
import os
import re
import subprocess
import sys

import pytest

from conftest import BUILD, SHARED

pytestmark = pytest.mark.shared

SOURCE = os.environ.get("QTF_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "../.."))
SCRIPT = os.path.join(SOURCE, "bench", "model_quality.py")
MODELS = os.path.join(SHARED, "..", "models")


def mq(*args):
    r = subprocess.run([sys.executable, SCRIPT, *map(str, args), "--build", BUILD],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stderr}{r.stdout}"
    return r.stdout


def need(path):
    if not os.path.exists(path):
        pytest.skip(f"needs ../shared: {os.path.normpath(path)} is missing")
    return path


def test_aidreams_folder_scores_as_the_preset():
    d = need(os.path.join(SHARED, "aidreams-llama-260k-hf-sharded"))
    tokens = need(os.path.join(SHARED, "..", "gguf", "text.tok512.i32"))
    preset = mq("baseline", "--model", "aidreams")
    folder = mq("baseline", "--model", d, "--tokens", tokens)   # ctx from config.json: 128
    a = re.search(r"unquantized ([\d.]+)", preset).group(1)
    assert a == re.search(r"unquantized ([\d.]+)", folder).group(1), (preset, folder)
    assert a.startswith("7.84778"), preset


def test_aidreams_folder_sharded_eval_int8_and_budget():
    d = need(os.path.join(SHARED, "aidreams-llama-260k-hf-sharded"))
    tokens = need(os.path.join(SHARED, "..", "gguf", "text.tok512.i32"))
    out = mq("eval", "--model", d, "--tokens", tokens, "--ref", "7.8477812815", "int8",
             "budget:4.25")
    rows = {m.group(1): (float(m.group(2)), float(m.group(3)))
            for m in re.finditer(r"^\| (\S+) \| no \| ([\d.]+) \| [\d.]+ \| [\d.]+ \| ([-+\d.]+)% \|",
                                 out, re.M)}
    assert set(rows) == {"int8", "budget:4.25"}, out
    assert abs(rows["int8"][1]) < 0.1, out           # int8: within 0.1% of the unquantized loss
    assert 4.0 < rows["budget:4.25"][0] <= 4.25, out  # the budget is met, and spent
    assert "unquantized: 7.84778 bits/token" in out, out


def test_folder_without_text_or_tokens_is_refused(tmp_path):
    d = need(os.path.join(MODELS, "bytes-c"))
    r = subprocess.run([sys.executable, SCRIPT, "baseline", "--model", d], capture_output=True,
                       text=True)
    assert r.returncode != 0 and "--text" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, SCRIPT, "baseline", "--model", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "config.json" in r.stderr, r.stderr
