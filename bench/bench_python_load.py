#!/usr/bin/python3
"""Loading a checkpoint into PyTorch bf16 tensors: an int4 .qtf through the
qtf package versus the bf16 safetensors original read with numpy
(np.frombuffer over the file's bytes, then torch views), 1 and 2 threads.

Each measurement runs in a fresh process (time from the first byte read to
the last tensor ready, and that process's peak RSS). The files are read once
before timing so that both sides start from the page cache (warm), which is
what a re-load on a workstation sees.

  PYTHONPATH=build/python /usr/bin/python3 bench/bench_python_load.py CKPT_DIR MODEL.qtf
"""
import json
import os
import resource
import subprocess
import sys
import time

CHILD = r"""
import json, os, resource, sys, time
mode, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
import numpy as np, torch
torch.set_num_threads(max(threads, 1))
t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
if mode == "qtf":
    import qtf
    sd = qtf.torch.load_file(path, dtype=torch.bfloat16, threads=threads)
else:
    idx = os.path.join(path, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) \
        else ["model.safetensors"]
    sd = {}
    for fn in files:
        with open(os.path.join(path, fn), "rb") as fp:
            buf = fp.read()
        n = int.from_bytes(buf[:8], "little")
        h = json.loads(buf[8:8 + n])
        h.pop("__metadata__", None)
        for k, e in h.items():
            a, b = e["data_offsets"]
            assert e["dtype"] == "BF16"
            arr = np.frombuffer(buf, dtype=np.int16, count=(b - a) // 2, offset=8 + n + a)
            sd[k] = torch.from_numpy(arr).view(torch.bfloat16).reshape(e["shape"])
secs = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
params = sum(v.numel() for v in sd.values())
print(json.dumps({"seconds": secs, "params": params, "cpu": cpu,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def warm(path):
    paths = [path] if os.path.isfile(path) else [os.path.join(path, f) for f in os.listdir(path)]
    for p in paths:
        with open(p, "rb") as fp:
            while fp.read(1 << 24):
                pass


def run(mode, path, threads, reps):
    best = None
    for _ in range(reps):
        out = subprocess.run([sys.executable, "-c", CHILD, mode, path, str(threads)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        if best is None or r["seconds"] < best["seconds"]:
            best = r
    return best


def main():
    ckpt, qfile = sys.argv[1], sys.argv[2]
    reps = int(os.environ.get("REPS", "3"))
    warm(ckpt)
    warm(qfile)
    size = lambda p: (os.path.getsize(p) if os.path.isfile(p) else
                      sum(os.path.getsize(os.path.join(p, f)) for f in os.listdir(p)))
    print(f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (before); "
          f"bf16 checkpoint {size(ckpt) / 1e9:.2f} GB, .qtf {size(qfile) / 1e9:.2f} GB; "
          f"best of {reps}, warm page cache")
    print("| load | threads | seconds | CPU seconds | params | G weights/s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    for mode, path in (("safetensors-bf16", ckpt), ("qtf", qfile)):
        for threads in (1, 2):
            r = run("qtf" if mode == "qtf" else "st", path, threads, reps)
            print(f"| {mode} | {threads} | {r['seconds']:.3f} | {r['cpu']:.2f} | "
                  f"{r['params'] / 1e9:.3f} G | "
                  f"{r['params'] / r['seconds'] / 1e9:.2f} | {r['rss_mb']:.0f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} (after)")


if __name__ == "__main__":
    main()
