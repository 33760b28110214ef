"""Fixtures: the C tools of the build tree and a generated sample checkpoint.
Tests that need ../shared skip visibly (pytest -rs lists them)."""
import os
import subprocess

import pytest

BUILD = os.environ.get("QTF_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "../../build"))
SHARED = os.environ.get("QTF_SHARED_CHECKPOINTS",
                        os.path.join(os.path.dirname(__file__), "../../../shared/checkpoints"))


def tool(name):
    sub = {"qtf-convert": "convert", "qtf-inspect": "inspect", "qtf-verify": "inspect",
           "qtf-make-sample": "tools", "qtf-edit": "tools"}[name]
    return os.path.join(BUILD, sub, name)


def run(*args, check=True):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{args}: exit {r.returncode}\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """A generated LLaMA-like bf16 checkpoint (2 shards, config, tokenizer)."""
    d = tmp_path_factory.mktemp("sample") / "ckpt"
    run(tool("qtf-make-sample"), d, "--layers", "1", "--hidden", "128", "--vocab", "256")
    return d


@pytest.fixture(scope="session")
def aidreams():
    p = os.path.join(SHARED, "aidreams-llama-260k-hf")
    if not os.path.isdir(p):
        pytest.skip(f"needs ../shared: {p} is missing")
    return p
