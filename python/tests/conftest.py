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


def run(*args, check=True, env_extra=None):
    env = dict(os.environ, **env_extra) if env_extra else None
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{args}: exit {r.returncode}\n{r.stderr}")
    return r


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """A generated LLaMA-like bf16 checkpoint (2 shards, config, tokenizer)."""
    d = tmp_path_factory.mktemp("sample") / "ckpt"
    run(tool("qtf-make-sample"), d, "--layers", "1", "--hidden", "256", "--vocab", "256")
    return d


@pytest.fixture(scope="session")
def aidreams():
    p = os.path.join(SHARED, "aidreams-llama-260k-hf")
    if not os.path.isdir(p):
        pytest.skip(f"needs ../shared: {p} is missing")
    return p


@pytest.fixture(scope="session")
def gguf_dir():
    """../shared/gguf: GGUF files written by llama.cpp, with *.ref.safetensors
    (every tensor as ggml dequantizes it, F32)."""
    p = os.path.join(SHARED, "..", "gguf")
    if not os.path.isdir(os.path.join(p, "synth")):
        pytest.skip(f"needs ../shared: {os.path.normpath(p)} is missing")
    return p


def pytest_configure(config):
    config.addinivalue_line("markers", "shared: needs ../shared (run as the python_shared "
                                       "meson test, which exits 77 = skipped without it)")


_outcomes = {"passed": 0, "skipped": 0, "failed": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" or report.skipped:
        _outcomes["skipped" if report.skipped else report.outcome] += 1


def pytest_sessionfinish(session, exitstatus):
    # meson's "skipped" is exit code 77: used when every selected test skipped
    if (os.environ.get("QTF_SKIP_AS_77") and _outcomes["skipped"]
            and not _outcomes["passed"] and not _outcomes["failed"] and exitstatus == 0):
        session.exitstatus = 77
