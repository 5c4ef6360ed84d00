"""The memory has no positions: the queries and keys that read and write the compressive memory
are the same for the same tokens wherever they sit in their segment, with RoPE (which rotates
local attention only). The control: with learned positions added to the input, they differ,
which is why such a model retrieves only where its question sat in training."""

from __future__ import annotations

import pytest
import torch

import bookreader.infini.attention as attention
from bookreader.infini import InfiniConfig, InfiniTransformer

SEGMENT = 32


def memory_qk_of_first_layer(
    model: InfiniTransformer, ids: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, k) that the first layer's memory reads and writes with, for every token of ids."""
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    step = attention.infini_attention_step

    def recording(q, k, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((q.detach().clone(), k.detach().clone()))
        return step(q, k, *args, **kwargs)

    monkeypatch.setattr(attention, "infini_attention_step", recording)
    with torch.no_grad():
        model(ids[None])
    monkeypatch.undo()
    first = seen[:: model.config.n_layers]  # each segment goes through every layer in turn
    return torch.cat([q for q, _ in first], dim=2)[0], torch.cat([k for _, k in first], dim=2)[0]


def placed(tokens: torch.Tensor, offset: int, rng: torch.Generator) -> torch.Tensor:
    """Random tokens, then `tokens` at in-segment `offset` of the second segment, then more."""
    before = torch.randint(0, 256, (SEGMENT + offset,), generator=rng)
    after = torch.randint(0, 256, (SEGMENT - offset - tokens.numel(),), generator=rng)
    return torch.cat([before, tokens, after])


@pytest.mark.parametrize("offsets", [(0, 7), (3, 21), (1, 25)])
def test_memory_queries_and_keys_do_not_depend_on_the_offset(
    offsets: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = torch.Generator().manual_seed(sum(offsets))
    tokens = torch.randint(0, 256, (6,), generator=rng)
    results = {}
    for positions in ("rope", "learned"):
        torch.manual_seed(0)
        cfg = InfiniConfig(
            d_model=32, n_layers=2, n_heads=4, segment_len=SEGMENT, positions=positions
        )
        model = InfiniTransformer(cfg).eval()
        qk = []
        for offset in offsets:
            q, k = memory_qk_of_first_layer(model, placed(tokens, offset, rng), monkeypatch)
            where = slice(SEGMENT + offset, SEGMENT + offset + tokens.numel())
            qk.append((q[:, where], k[:, where]))  # (heads, 6, head_dim)
        (q0, k0), (q1, k1) = qk
        results[positions] = (q0 - q1).abs().max().item() + (k0 - k1).abs().max().item()
        if positions == "rope":
            torch.testing.assert_close(q0, q1, rtol=0, atol=1e-6)
            torch.testing.assert_close(k0, k1, rtol=0, atol=1e-6)
    assert results["learned"] > 1e-3  # the control: learned positions move memory q/k


def test_shipped_model_keeps_positions_out_of_its_memory() -> None:
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "models" / "passkey-tiny"
    model = InfiniTransformer.load(folder)
    assert model.config.positions == "rope" and model.pos_embed is None
