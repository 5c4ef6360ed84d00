"""Reading cost of Infini-attention against full causal attention, as the input grows.

A fixed small Infini-Transformer reads N = 8K, 32K, 128K random tokens (1M with --long); the same
config with one segment as long as the input (that is ordinary full causal attention, which
tests/test_infini_attention.py proves) reads the same inputs as the baseline. Every measurement
runs in a fresh subprocess, so that its peak memory is its own:
- CPU: peak resident set size (getrusage ru_maxrss; torch's CPU allocations are invisible to
  tracemalloc), reported whole and above the process's size just before reading;
- CUDA: torch.cuda.max_memory_allocated during the read.

Time on CPU is the process's CPU time (one thread by default, the same for both models), so
that other jobs on a shared machine do not blur the ratios; wall-time ratios are printed too.

Prints a table, then one JSON line: t128k_over_t8k (linear scaling is 16), mem_growth_32k_to_128k
(peak memory ratio), speedup_vs_full_at_32k, and how far full attention got (out of memory, or
not run above --full-cap because its quadratic time would dominate the run).

    python benchmarks/scaling.py [--long] [--device cuda --dtype bf16] [--full-cap 32768]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import torch

from bookreader.infini import InfiniConfig, InfiniTransformer

CONFIG = dict(vocab_size=256, d_model=128, n_layers=2, n_heads=4, n_kv_heads=2, segment_len=2048)
SIZES = [8 * 1024, 32 * 1024, 128 * 1024]
LONG = 1024 * 1024
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(
    kind: str, n_tokens: int, device: str, dtype: str, threads: int, repeats: int
) -> dict[str, Any]:
    """Runs in the child process: build, warm up, then time reads of n_tokens (best of
    `repeats`, each from an empty state)."""
    torch.set_num_threads(threads)
    segment_len = CONFIG["segment_len"] if kind == "infini" else n_tokens
    torch.manual_seed(0)
    model = InfiniTransformer(InfiniConfig(**{**CONFIG, "segment_len": segment_len}))
    model = model.to(device, DTYPES[dtype]).eval()
    ids = torch.randint(0, CONFIG["vocab_size"], (1, n_tokens), device=device)
    model.read(ids[:, :256])  # warm-up: kernels, allocator
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    sync()
    before = rss_mib() if device == "cpu" else torch.cuda.memory_allocated() / 2**20
    walls, cpus = [], []
    for _ in range(repeats):  # best of several: the machine may be shared
        start, start_cpu = time.perf_counter(), time.process_time()
        try:
            state = model.read(ids)
            sync()
        except torch.OutOfMemoryError:
            return {"oom": True}
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
        assert state.tokens_read == n_tokens
    # On CPU the process's own CPU time is what the read costs, whatever else the machine
    # runs (with --threads 1 it equals wall time on an idle machine); on CUDA, wall time.
    seconds = min(cpus) if device == "cpu" else min(walls)
    peak = rss_mib() if device == "cpu" else torch.cuda.max_memory_allocated() / 2**20
    return {
        "oom": False,
        "seconds": seconds,
        "wall_seconds": min(walls),
        "peak_mib": peak,
        "above_start_mib": peak - before,
    }


def run_child(kind: str, n_tokens: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--child", kind, str(n_tokens),
        "--device", args.device, "--dtype", args.dtype, "--threads", str(args.threads),
        "--repeats", str(args.repeats),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:  # killed by the kernel's OOM killer, or a crash
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return {"oom": done.returncode in (-9, 137), "error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(row: dict[str, Any] | None, key: str, spec: str) -> str:
    if row is None:
        return "not run"
    if row.get("oom"):
        return "OOM"
    if "error" in row:
        return "error"
    return format(row[key], spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true", help="also read 1M tokens")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (same for both)")
    parser.add_argument("--repeats", type=int, default=3, help="timed reads, best one kept")
    parser.add_argument(
        "--full-cap", type=int, default=32 * 1024,
        help="longest input full attention reads (its time grows quadratically)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, n_tokens = args.child[0], int(args.child[1])
        result = measure(kind, n_tokens, args.device, args.dtype, args.threads, args.repeats)
        print(json.dumps(result))
        return

    sizes = SIZES + ([LONG] if args.long else [])
    infini: dict[int, dict[str, Any]] = {}
    full: dict[int, dict[str, Any] | None] = {}
    full_stopped = None  # first size where full attention ran out of memory
    for n in sizes:
        infini[n] = run_child("infini", n, args)
        if n <= args.full_cap and full_stopped is None:
            full[n] = run_child("full", n, args)
            if full[n].get("oom"):
                full_stopped = n
        else:
            full[n] = None
        print(f"  measured N={n}", file=sys.stderr, flush=True)

    unit = "RSS MiB" if args.device == "cpu" else "CUDA MiB"
    clock = "process CPU time" if args.device == "cpu" else "wall time"
    print(
        f"device {args.device} {args.dtype}, threads {args.threads}, seconds: {clock}, best of"
        f" {args.repeats}, config {CONFIG}"
    )
    print(
        f"{'tokens':>9} | {'infini s':>9} {'tok/s':>9} {'peak ' + unit:>14} {'+read':>8} |"
        f" {'full s':>9} {'peak ' + unit:>14} {'+read':>8} | {'speedup':>7}"
    )
    for n in sizes:
        i, f = infini[n], full[n]
        tps = format(n / i["seconds"], ".0f") if "seconds" in i else "-"
        speed = (
            format(f["seconds"] / i["seconds"], ".1f")
            if f and "seconds" in f and "seconds" in i
            else "-"
        )
        print(
            f"{n:>9} | {fmt(i, 'seconds', '.2f'):>9} {tps:>9} {fmt(i, 'peak_mib', '.0f'):>14}"
            f" {fmt(i, 'above_start_mib', '.1f'):>8} | {fmt(f, 'seconds', '.2f'):>9}"
            f" {fmt(f, 'peak_mib', '.0f'):>14} {fmt(f, 'above_start_mib', '.1f'):>8} | {speed:>7}"
        )

    k8, k32, k128 = SIZES
    full32 = full.get(k32)
    summary = {
        "device": args.device,
        "dtype": args.dtype,
        "t128k_over_t8k": infini[k128]["seconds"] / infini[k8]["seconds"],
        "mem_growth_32k_to_128k": infini[k128]["peak_mib"] / infini[k32]["peak_mib"],
        "mem_growth_above_start_32k_to_128k": (
            infini[k128]["above_start_mib"] / max(infini[k32]["above_start_mib"], 1e-9)
        ),
        "speedup_vs_full_at_32k": (
            full32["seconds"] / infini[k32]["seconds"] if full32 and "seconds" in full32 else None
        ),
        "t128k_over_t8k_wall": infini[k128]["wall_seconds"] / infini[k8]["wall_seconds"],
        "speedup_vs_full_at_32k_wall": (
            full32["wall_seconds"] / infini[k32]["wall_seconds"]
            if full32 and "seconds" in full32
            else None
        ),
        "timing": clock,
        "full_attention_oom_at": full_stopped,
        "full_attention_not_run_above": args.full_cap if full_stopped is None else None,
    }
    if args.long:
        summary["t1m_over_t8k"] = infini[LONG]["seconds"] / infini[k8]["seconds"]
        summary["mem_growth_32k_to_1m"] = infini[LONG]["peak_mib"] / infini[k32]["peak_mib"]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
