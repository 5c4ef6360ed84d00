"""The converted models on a GPU (skipped without CUDA): auto device and dtype, closed-gate
equivalence in bf16, and generation with memory equal to recomputation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hf_helpers import random_ids, tiny_model

from bookreader.hf import GenerationStream, load_model

pytestmark = pytest.mark.cuda


def test_auto_loads_on_cuda_in_bf16_and_matches_the_original(tmp_path: Path) -> None:
    plain = tiny_model("llama")
    plain.save_pretrained(tmp_path)
    model = load_model(tmp_path, segment_len=16, gate_init=-30.0)  # device and dtype "auto"
    assert model.lm_head.weight.device.type == "cuda"
    assert model.lm_head.weight.dtype in (torch.bfloat16, torch.float16)
    reference = plain.to(device="cuda", dtype=model.lm_head.weight.dtype)
    ids = random_ids(2, 16).cuda()
    with torch.no_grad():
        out = model(ids)
        torch.testing.assert_close(out.logits, reference(ids).logits, atol=2e-2, rtol=0)
    assert out.state.layers[0].memory.M.dtype == torch.float32
    assert out.state.device.type == "cuda"


def test_generation_on_cuda_equals_recomputation(tmp_path: Path) -> None:
    tiny_model("qwen3").save_pretrained(tmp_path)
    model = load_model(tmp_path, device="cuda", dtype="float32", segment_len=8, gate_init=0.0)
    prompt = random_ids(1, 11)[0].tolist()
    stream = GenerationStream(model, None, prompt, max_new_tokens=12, eos_token_id=[])
    tokens = list(stream)
    ids = list(prompt)
    with torch.no_grad():
        for token in tokens:
            expected = int(model(torch.tensor([ids], device="cuda")).logits[0, -1].argmax())
            assert token == expected
            ids.append(token)
