"""Training recipes for Hugging Face models (`[model] hf = ...`), end to end on a tiny random
Llama with a tokenizer made here: a few steps on passkey trials in its own tokens (filler and a
book haystack), save, load back, and `bookreader passkey` runs on the saved folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bookreader.cli.app import app
from bookreader.training.config import load_recipe
from bookreader.training.data import (
    FILLER,
    INTRO,
    NEEDLE,
    QUESTION,
    TokenizerCodec,
    passkey_sample,
    text_haystack,
)
from bookreader.training.hf_model import HFInfiniModel
from bookreader.training.loop import train

transformers = pytest.importorskip("transformers")


def make_tokenizer(folder: Path) -> object:
    """A small byte-level BPE trained on the task's texts: merges make tokens of several
    characters, so token positions differ from character positions."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    corpus = [FILLER * 20, INTRO * 5, NEEDLE * 5, QUESTION * 5, "0123456789 " * 10]
    bpe.train_from_iterator(corpus, vocab_size=320, min_frequency=2, special_tokens=["<s>"])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>")
    fast.save_pretrained(folder)
    return fast


@pytest.fixture(scope="module")
def plain_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("llama")
    tokenizer = make_tokenizer(folder)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    )  # fmt: skip
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def test_trials_in_tokenizer_tokens_keep_the_contract(plain_llama: Path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(plain_llama)
    codec = TokenizerCodec(tokenizer)
    assert len(codec.encode(FILLER)) < len(FILLER) / 2  # merges: tokens are not characters
    hay = text_haystack("The tide was low. The gulls were loud at 6 o'clock. " * 30, "shore", codec)
    for depth in (0.0, 0.5, 1.0):
        sample = passkey_sample(700, depth, "40719", 32, "", "", hay, int(hay.starts[3]))
        ids = sample.tokens()
        assert ids.numel() == 700
        assert sample.needle_end <= (sample.question_start // 32) * 32  # in token positions
        assert torch.equal(ids[-5:], codec.key_ids("40719"))
        text = tokenizer.decode(ids.tolist())
        assert re.findall(r"\d+", text) == ["40719"] * 3
        assert text.endswith(QUESTION + "40719")


def test_recipe_trains_saves_loads_and_runs_passkey(
    plain_llama: Path, tmp_path: Path, samples: Path
) -> None:
    recipe_file = tmp_path / "recipe.toml"
    recipe_file.write_text(
        f'[model]\nhf = "{plain_llama}"\nsegment_len = 32\ngate_init = 0.0\n'
        "[data]\nintro = false\nsegments_min = 3\nsegments_max = 4\n"
        f'haystack_books = ["{samples / "harbour-notes.txt"}"]\nhaystack_prob = 0.5\n'
        f"[train]\nsteps = 3\nbatch_size = 2\nwarmup_steps = 1\nlr = 1e-2\nthreads = 1\n"
        f'log_every = 1\nout_dir = "{tmp_path / "run"}"\n'
    )
    result = train(load_recipe(recipe_file))
    assert result.step == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2, 3] and "key_acc" in records[-1]

    saved = HFInfiniModel.load(result.model_dir)
    plain = transformers.LlamaForCausalLM.from_pretrained(plain_llama)
    assert saved.config.segment_len == 32 and saved.config.model_type == "infini_llama"
    weight = "model.layers.0.self_attn.q_proj.weight"
    trained = saved.model.state_dict()[weight]
    assert not torch.allclose(trained, plain.state_dict()[weight])  # the steps changed it

    args = ["passkey", "--model", str(result.model_dir), "--lengths", "300", "--trials", "2"]
    run = CliRunner().invoke(app, [*args, "--no-intro", "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert [c["position"] for c in data["cells"]] == ["start", "middle", "end"]
    assert all(0.0 <= c["token_accuracy"] <= 1.0 for c in data["cells"])
    hay = CliRunner().invoke(
        app, [*args, "--no-intro", "--haystack", str(samples / "harbour-notes.txt"), "--json"]
    )
    assert hay.exit_code == 0, hay.output
    assert json.loads(hay.stdout)["haystack"] == "harbour-notes.txt"

    book = samples / "harbour-notes.txt"  # perplexity counts the model's own tokens
    ppl = CliRunner().invoke(
        app, ["eval", "perplexity", str(book), "--model", str(result.model_dir), "--json"]
    )
    assert ppl.exit_code == 0, ppl.output
    from bookreader.loaders import load

    expected = len(saved.tokenizer(load(book).text, add_special_tokens=False)["input_ids"])
    assert json.loads(ppl.stdout)["tokens"] == expected - 1
