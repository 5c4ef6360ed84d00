#!/usr/bin/env bash
# The checks only a GPU can make, as one prepared run for a lent CUDA machine:
#   1. the `cuda` tests (bf16 Infini-attention with fp32 memory against the fp32 CPU result,
#      fused SDPA kernel; converted Hugging Face model in bf16),
#   2. benchmarks/scaling.py in bf16 (8K..1M tokens against full attention),
#   3. benchmarks/hf_read.py --gpu-1b (1B-shaped random Llama, bf16, 1M tokens; full attention
#      at 32K beside it),
#   4. a short bf16 training run, then one step resumed from its checkpoint, under torchrun (NCCL).
# Usage from the repository root: OUT=/tmp/gpu bash benchmarks/gpu_session.sh
set -u
OUT=${OUT:-/tmp/bookreader-gpu}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" | tee -a "$OUT/gpu.txt"

timeout 150 $PY -m pytest -q -p no:cacheprovider -m cuda tests/test_infini_cuda.py tests/test_hf_cuda.py 2>&1 | tee "$OUT/cuda-tests.log"
timeout 150 $PY benchmarks/scaling.py --device cuda --dtype bf16 --long --repeats 2 2>&1 | tee "$OUT/scaling.log"
timeout 240 $PY benchmarks/hf_read.py --gpu-1b 2>&1 | tee "$OUT/hf_read.log"

cat > "$OUT/train.toml" <<TOML
[model]
vocab_size = 259
d_model = 256
n_layers = 4
n_heads = 8
n_kv_heads = 2
segment_len = 256
update = "delta"

[data]
segments_min = 2
segments_max = 8

[train]
steps = 60
batch_size = 32
warmup_steps = 10
checkpoint_every = 30
log_every = 10
device = "cuda"
out_dir = "$OUT/run"
TOML
timeout 150 torchrun --standalone --nproc_per_node 1 -m bookreader.cli.app train "$OUT/train.toml" 2>&1 | tail -20 | tee "$OUT/train.log"
ls "$OUT/run" 2>&1 | tee -a "$OUT/train.log"
