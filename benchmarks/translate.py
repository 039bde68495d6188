"""Benchmark the translation network: training steps/s and inference frames/s for each preset.

Each preset runs in a fresh process (so peak memory is its own) at its own
resolution, batch size and window, through the real training step
(`translation.training.Trainer.train_step`: window assembly, generator,
discriminator, both optimiser steps) and the real inference path
(`translation.inference`: channels-last, inference mode), on a training set of
random conditioning of the right shape held in memory. The generator's
achieved GFLOP/s (forward FLOPs counted by torch's FlopCounterMode, times
frames/s) is printed beside the machine's own matmul GFLOP/s measured in the
same run, fp32 and bf16. fp32 inference is timed in the preset's batches;
bf16, which is very slow on CPUs without AVX-512 bf16, on one frame (on a
GPU in the preset's batches too). `--device cuda` runs all of it on the GPU;
peak memory is then the GPU's, and the training step is also timed with the
training set left in host memory (each batch copied over), as for a shot too
long to move to the GPU.

    python benchmarks/translate.py [--presets cpu,paper,hd] [--steps 3] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from torch.utils.flop_counter import FlopCounterMode
torch.set_num_threads(int(sys.argv[3]))
from rendering.crop import CropBox
from translation.config import preset
from translation.dataset import ShotData
from translation.inference import PRECISIONS
from translation.networks import Generator
from translation.training import Trainer, to_uint8

cfg, steps, device = preset(sys.argv[1]), int(sys.argv[2]), torch.device(sys.argv[5])
gpu = device.type == "cuda"
sync = torch.cuda.synchronize if gpu else (lambda: None)
n = cfg.batch_size * 4 + cfg.window
rng = np.random.default_rng(0)
data = ShotData(conditioning=rng.integers(0, 256, (n, 9, cfg.size, cfg.size), dtype=np.uint8),
                frames=rng.integers(0, 256, (n, 3, cfg.size, cfg.size), dtype=np.uint8),
                valid=np.ones(n, bool), crop=CropBox(0, 0, cfg.size), size=cfg.size)
trainer = Trainer(cfg, data, np.arange(n), seed=0, device=device)
trainer.train_step()  # warm-up
times = []
for _ in range(steps):
    t0 = time.perf_counter(); trainer.train_step(); times.append(time.perf_counter() - t0)
step_s = float(np.median(times))
result = {"preset": cfg.name, "size": cfg.size, "window": cfg.window, "batch": cfg.batch_size,
          "train_steps_per_s": 1 / step_s, "train_frames_per_s": cfg.batch_size / step_s}
if gpu:  # the same steps with the training set left in host memory, as for a shot too long for the GPU
    import translation.training as tr
    tr.GPU_DATA_SHARE, held = 0.0, trainer
    trainer = Trainer(cfg, data, np.arange(n), seed=0, device=device)
    trainer.train_step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter(); trainer.train_step(); times.append(time.perf_counter() - t0)
    result["host_data_steps_per_s"] = 1 / float(np.median(times))
    trainer = held
windows = trainer.inputs(np.arange(cfg.batch_size))[1]  # the generator's input: window, and plate if any
with FlopCounterMode(display=False) as counter:
    with torch.inference_mode():
        Generator(cfg).to(device)(windows[:1].float())
result["generator_gflop_per_frame"] = counter.get_total_flops() / 1e9
for name in sys.argv[4].split(","):
    # fp32 in the preset's batches; slower precisions on a single frame, once, to bound the run's time
    frames, reps = (cfg.batch_size, max(2, steps)) if name == "fp32" or gpu else (1, 1)
    generator = Generator(cfg).eval().to(device, PRECISIONS[name]).to(memory_format=torch.channels_last)
    x = windows[:frames].to(PRECISIONS[name]).div(127.5).sub(1).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        to_uint8(generator(x)); sync()
        times = []
        for _ in range(reps):
            t0 = time.perf_counter(); to_uint8(generator(x)); sync(); times.append(time.perf_counter() - t0)
    fps = frames / float(np.median(times))
    result[f"infer_{name}_fps"] = fps
    result[f"infer_{name}_gflops"] = fps * result["generator_gflop_per_frame"]
result["peak_mib"] = (torch.cuda.max_memory_allocated() / 2 ** 20 if gpu
                      else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(result))
"""

MATMUL = r"""
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
device = torch.device(sys.argv[2])
gpu = device.type == "cuda"
side = 8192 if gpu else 1024
out = {}
for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    a, b = (torch.randn(side, side, dtype=dt, device=device) for _ in range(2))
    a @ b
    if gpu:
        torch.cuda.synchronize()
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2 and reps < 200:
        a @ b; reps += 1
        if gpu:
            torch.cuda.synchronize()
    out[name] = 2 * side ** 3 * reps / (time.perf_counter() - t0) / 1e9
print(json.dumps(out))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="cpu,paper,hd")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per preset (median taken)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precisions", default="fp32,bf16", help="inference precisions to time")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to time the GPU")
    args = ap.parse_args()
    mm = run(MATMUL, str(args.threads), args.device)
    side = 8192 if args.device.startswith("cuda") else 1024
    print(f"{os.cpu_count()} CPU cores, torch threads {args.threads}, device {args.device}; machine matmul "
          f"({side}^2): {mm['fp32']:.0f} GFLOP/s fp32, {mm['bf16']:.0f} GFLOP/s bf16\n")
    precisions = args.precisions.split(",")
    gpu = args.device.startswith("cuda")
    head = ["preset", "size", "window", "batch", "train steps/s", "train frames/s"]
    if gpu:
        head.append("train steps/s, data in host memory")
    for p in precisions:
        head += [f"inference frames/s {p}", f"generator GFLOP/s {p} (of matmul)"]
    head += ["generator GFLOP/frame", "peak memory MiB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in args.presets.split(","):
        r = run(CHILD, name, str(args.steps), str(args.threads), args.precisions, args.device)
        row = [r["preset"], str(r["size"]), str(r["window"]), str(r["batch"]), f"{r['train_steps_per_s']:.3f}",
               f"{r['train_frames_per_s']:.1f}"]
        if gpu:
            row.append(f"{r['host_data_steps_per_s']:.3f}")
        for p in precisions:
            row += [f"{r[f'infer_{p}_fps']:.1f}", f"{r[f'infer_{p}_gflops']:.0f} ({r[f'infer_{p}_gflops'] / mm[p]:.0%})"]
        row += [f"{r['generator_gflop_per_frame']:.2f}", f"{r['peak_mib']:.0f}"]
        print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
