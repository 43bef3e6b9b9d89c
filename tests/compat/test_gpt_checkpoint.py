"""A nanoGPT training checkpoint (``ckpt.pt``: the state_dict under 'model', beside
'optimizer', 'model_args', 'iter_num', 'best_val_loss', 'config') through
``jaxnn-compat convert`` both ways: the tied ``lm_head.weight`` / ``transformer.wte.weight``
stay one tensor, the .pth written back is bit-exact and loads into nanoGPT's GPT, and
the jaxnn checkpoint computes nanoGPT's logits (1e-5 abs)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import assert_close, to_numpy  # noqa: E402

import jaxnn  # noqa: E402
from jaxnn.compat import torch_models  # noqa: E402
from jaxnn.compat.cli import main  # noqa: E402
from jaxnn.models import GPT  # noqa: E402

CONFIG = dict(block_size=8, vocab_size=13, n_layer=2, n_head=2, n_embd=8, dropout=0.0, bias=True)


def test_nanogpt_checkpoint_round_trip(tmp_path, capsys):
    torch.manual_seed(0)
    twin = torch_models.GPT(torch_models.GPTConfig(**CONFIG))
    optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-3)
    twin(torch.zeros(1, 8, dtype=torch.long), torch.zeros(1, 8, dtype=torch.long))[1].backward()
    optimizer.step()  # a real optimizer state beside the weights, as nanoGPT saves it
    checkpoint = {
        "model": twin.state_dict(),
        "optimizer": optimizer.state_dict(),
        "model_args": dict(CONFIG),
        "iter_num": 1,
        "best_val_loss": torch.tensor(3.5),
        "config": {"dataset": "shakespeare_char"},
    }
    torch.save(checkpoint, tmp_path / "ckpt.pt")
    kwargs = ["--model", "GPT", "--model-kwargs", json.dumps({"config": CONFIG})]

    assert main(["convert", str(tmp_path / "ckpt.pt"), str(tmp_path / "jaxnn"), *kwargs]) == 0
    assert "using the checkpoint's 'model' entry" in capsys.readouterr().out
    assert main(["convert", str(tmp_path / "jaxnn"), str(tmp_path / "back.pth")]) == 0

    back = torch.load(tmp_path / "back.pth", weights_only=True)
    assert list(back) == list(checkpoint["model"])  # the source's keys, in its order
    for key, tensor in checkpoint["model"].items():
        assert torch.equal(back[key], tensor), key
    assert back["lm_head.weight"].data_ptr() == back["transformer.wte.weight"].data_ptr()
    fresh = torch_models.GPT(torch_models.GPTConfig(**CONFIG))
    fresh.load_state_dict(back, strict=True)

    variables = jaxnn.load(tmp_path / "jaxnn")
    assert set(variables) == {"params", "tied"}
    idx = np.random.default_rng(0).integers(0, 13, (2, 8)).astype(np.int32)
    with torch.no_grad():
        want = twin.eval()(torch.from_numpy(idx).long(), torch.from_numpy(idx).long())[0]
    got = jax.jit(GPT(CONFIG).apply)(variables, idx, idx)[0]
    assert_close(got, to_numpy(want), 1e-5)


def test_verify_runs_gpt_on_token_inputs(tmp_path, capsys):
    """``jaxnn-compat verify`` draws token ids (0 and 1) for an integer-input model and
    compares every layer; nanoGPT's ``(logits, None)`` output compares as its logits."""
    torch.save(torch_models.GPT(torch_models.GPTConfig(**CONFIG)).state_dict(), tmp_path / "g.pth")
    kwargs = ["--model", "GPT", "--model-kwargs", json.dumps({"config": CONFIG})]
    assert main(["verify", str(tmp_path / "g.pth"), *kwargs]) == 0
    out = capsys.readouterr().out
    assert "transformer.h.1.mlp.gelu" in out and "result: OK" in out
