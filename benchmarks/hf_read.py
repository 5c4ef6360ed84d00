"""Reading speed and peak memory: a converted (Infini-attention) Hugging Face model against the
same unconverted model with full attention, on the same inputs, in the same run.

Each measurement runs in a fresh subprocess, so peak memory is that measurement's own:
ru_maxrss of the process on CPU (which includes the interpreter, torch and the weights, also
printed alone as "before reading"), torch.cuda.max_memory_allocated on a GPU. Both models get
one warm-up segment first; the timed part is the read of the whole input (the converted model
reads segment by segment, carrying memory; the full model reads everything in one forward with
logits for the last position only, as a prompt prefill would).

CPU (default): a tiny random Llama (hidden 256, 4 layers, 8 heads, 2 KV heads) reads 8K, 32K
and 128K tokens; full attention runs up to --full-max-tokens (its cost grows with the square of
the length: longer inputs are reported as not run).

    python benchmarks/hf_read.py [--lengths 8192 32768 131072] [--segment-len 1024]
                                 [--full-max-tokens 32768] [--threads 1] [--repeats 1]

GPU session: a 1B-shaped random Llama (16 layers, hidden 2048, 32 heads, 8 KV heads) in bf16
reads 1M tokens converted, beside full attention at 32K:

    python benchmarks/hf_read.py --gpu-1b [--gpu-tokens 1048576] [--gpu-full-tokens 32768]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TINY = {
    "vocab_size": 4096,
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
}
LLAMA_1B = {  # the shape of Llama 3.2 1B
    "vocab_size": 128256,
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
}
SHAPES = {"tiny": TINY, "1b": LLAMA_1B}


@dataclass
class Measurement:
    mode: str  # "infini" or "full"
    tokens: int
    seconds: float
    rss_before_mb: float  # process RSS once the model is built, before reading
    peak_rss_mb: float  # ru_maxrss: the process's peak RSS
    peak_gpu_mb: float | None  # torch.cuda.max_memory_allocated, None on CPU
    device: str

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds


# -- worker: one measurement in this process ---------------------------------------------------


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _build(shape: dict, device: str, dtype: str, mode: str, segment_len: int) -> object:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from bookreader.hf import infinify

    torch.manual_seed(0)
    config = LlamaConfig(**shape, max_position_embeddings=1 << 21, attn_implementation="sdpa")
    with torch.device(device):  # random weights made where they live (1B on a GPU: seconds)
        model = LlamaForCausalLM(config)
    model = model.to(dtype=getattr(torch, dtype)).eval()
    if mode == "infini":
        model = infinify(model, segment_len=segment_len, memory_update="delta", gate_init=-4.0)
    return model


def _read(model: object, ids: object, mode: str, segment_len: int) -> None:
    import torch

    with torch.inference_mode():
        if mode == "full":
            model(ids, logits_to_keep=1, use_cache=False)
            return
        state = None
        chunk = 16 * segment_len  # bounded embedding buffers, whatever the input length
        for start in range(0, ids.shape[1], chunk):
            state = model.read(ids[:, start : start + chunk], state)


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    shape = SHAPES[args.shape]
    model = _build(shape, args.device, args.dtype, args.mode, args.segment_len)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(0, shape["vocab_size"], (1, args.tokens), generator=generator)
    ids = ids.to(args.device)
    cuda = args.device.startswith("cuda")

    _read(model, ids[:, : args.segment_len], args.mode, args.segment_len)  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_before = _rss_mb()
    start = time.perf_counter()
    _read(model, ids, args.mode, args.segment_len)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    measurement = Measurement(
        mode=args.mode,
        tokens=args.tokens,
        seconds=seconds,
        rss_before_mb=rss_before,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        peak_gpu_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        device=torch.cuda.get_device_name() if cuda else platform.processor() or "cpu",
    )
    print(json.dumps(asdict(measurement)))


# -- driver: fresh subprocess per measurement ----------------------------------------------------


def measure(args: argparse.Namespace, mode: str, tokens: int) -> Measurement | str:
    """Best of --repeats fresh runs (a shared machine only ever slows a run down); its peak
    memory is the largest seen."""
    runs = [_measure_once(args, mode, tokens) for _ in range(args.repeats)]
    done = [run for run in runs if isinstance(run, Measurement)]
    if not done:
        return runs[0]
    best = min(done, key=lambda run: run.seconds)
    best.peak_rss_mb = max(run.peak_rss_mb for run in done)
    if best.peak_gpu_mb is not None:
        best.peak_gpu_mb = max(run.peak_gpu_mb or 0.0 for run in done)
    return best


def _measure_once(args: argparse.Namespace, mode: str, tokens: int) -> Measurement | str:
    command = [
        sys.executable, __file__, "--worker", "--mode", mode, "--tokens", str(tokens),
        "--segment-len", str(args.segment_len), "--threads", str(args.threads),
        "--device", args.device, "--dtype", args.dtype,
    ]  # fmt: skip
    if args.gpu_1b:
        command.append("--gpu-1b")
    command += ["--shape", args.shape]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return f"failed ({lines[-1] if lines else 'exit ' + str(done.returncode)})"
    return Measurement(**json.loads(done.stdout.strip().splitlines()[-1]))


def _memory(m: Measurement) -> str:
    if m.peak_gpu_mb is not None:
        return f"{m.peak_gpu_mb:,.0f} MB GPU"
    return f"{m.peak_rss_mb:,.0f} MB RSS ({m.peak_rss_mb - m.rss_before_mb:+,.0f})"


def report(tokens: int, infini: Measurement | str, full: Measurement | str | None) -> None:
    def cell(m: Measurement | str | None) -> str:
        if m is None:
            return "not run"
        return m if isinstance(m, str) else f"{m.tokens_per_s:>10,.0f} tok/s  {_memory(m)}"

    speedup = ""
    if isinstance(infini, Measurement) and isinstance(full, Measurement):
        speedup = f"  speedup x{infini.tokens_per_s / full.tokens_per_s:.2f}"
    print(f"{tokens:>9,} tokens | infini {cell(infini)} | full {cell(full)}{speedup}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[8192, 32768, 131072])
    parser.add_argument("--segment-len", type=int, default=None)
    parser.add_argument("--full-max-tokens", type=int, default=32768)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gpu-1b", action="store_true")
    parser.add_argument("--gpu-tokens", type=int, default=1 << 20)
    parser.add_argument("--gpu-full-tokens", type=int, default=32768)
    parser.add_argument("--shape", choices=sorted(SHAPES), default=None, help="model shape")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--repeats", type=int, default=1, help="report the best of N runs")
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["infini", "full"], help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.shape = args.shape or ("1b" if args.gpu_1b else "tiny")
    args.device = args.device or ("cuda" if args.gpu_1b else "cpu")
    args.dtype = args.dtype or ("bfloat16" if args.gpu_1b else "float32")
    args.segment_len = args.segment_len or (2048 if args.gpu_1b else 1024)
    if args.worker:
        worker(args)
        return

    print(
        f"{args.shape} Llama {SHAPES[args.shape]}\n"
        f"device {args.device}, {args.dtype}, segment_len {args.segment_len}, "
        f"{args.threads} CPU thread(s); fresh process per measurement, best of {args.repeats}",
        flush=True,
    )
    if args.gpu_1b:
        report(args.gpu_tokens, measure(args, "infini", args.gpu_tokens), None)
        report(
            args.gpu_full_tokens,
            measure(args, "infini", args.gpu_full_tokens),
            measure(args, "full", args.gpu_full_tokens),
        )
        return
    for tokens in args.lengths:
        infini = measure(args, "infini", tokens)
        full = measure(args, "full", tokens) if tokens <= args.full_max_tokens else None
        report(tokens, infini, full)


if __name__ == "__main__":
    main()
