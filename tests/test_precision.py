"""Mixed precision (``precision='bf16'``) against torch.autocast(bfloat16) on CPU.

Both frameworks keep float32 master weights and run LeNet's convolutions and linear
layers in bfloat16. They round at different places (XLA fuses the bias, ReLU and pooling
into the convolution's output before rounding; torch rounds each op's output), so the
logits agree to bfloat16's precision (measured 0.7% of the largest logit), no better:
bfloat16 against float32 differs by as much (0.5%). The forward test therefore checks
both that jaxnn's bf16 is within 2% of autocast and that it is not float32.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxnn as nn
from jaxnn import models, optim
from jaxnn.compat import flax_to_torch, torch_to_flax
from jaxnn.compat.torch_models import LeNet as TorchLeNet
from jaxnn.steps import apply_in_precision as _apply
from jaxnn.train import TrainState, init_metrics, make_eval_step, make_train_step, summarize

FORWARD_RTOL = 2e-2  # logits, relative to the largest |logit| (measured 7e-3)

LOSS_RTOL = 1e-3  # per-step loss, relative (measured 3e-5)
WEIGHT_ATOL = 1e-3  # weights after 3 SGD steps, lr 0.05 (measured 4e-4)
STEPS, BATCH = 3, 16


@pytest.fixture(scope="module")
def run():
    rng = np.random.default_rng(0)
    batches = [
        (rng.normal(size=(BATCH, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, BATCH))
        for _ in range(STEPS)
    ]
    torch.manual_seed(0)
    ref = TorchLeNet()
    model, opt = models.LeNet(), optim.SGD(0.05)
    template = jax.eval_shape(model.init, jax.random.key(0), jnp.asarray(batches[0][0]))
    state = TrainState.create(
        model, opt, batches[0][0], variables=torch_to_flax(ref.state_dict(), template)
    )
    step = make_train_step(model, nn.CrossEntropyLoss(), opt, precision="bf16")
    topt = torch.optim.SGD(ref.parameters(), lr=0.05)
    ours, theirs = [], []
    for x, y in batches:
        metrics = init_metrics()
        state, metrics = step(state, metrics, (x, y.astype(np.int32)))
        ours.append(summarize(metrics)["loss"])
        topt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = ref(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(out.float(), torch.from_numpy(y))
        loss.backward()
        topt.step()
        theirs.append(loss.item())
    return state, ref, ours, theirs, batches


def test_forward_matches_torch_autocast():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3, 32, 32)).astype(np.float32)
    y = np.zeros(16, np.int32)
    torch.manual_seed(0)
    ref, model = TorchLeNet(), models.LeNet()
    template = jax.eval_shape(model.init, jax.random.key(0), jnp.asarray(x))
    state = TrainState.create(
        model, optim.SGD(0.1), x, variables=torch_to_flax(ref.state_dict(), template)
    )
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        want = ref(torch.from_numpy(x)).float().numpy()
    scale = np.abs(want).max()
    # the eval step's loss is a function of the logits; compare the logits themselves
    bf16 = np.array(jax.jit(lambda v, x: _apply(model, v, x, jnp.bfloat16))(state.variables, x))
    fp32 = np.asarray(model.apply(state.variables, x))
    assert bf16.dtype == np.float32
    assert np.abs(bf16 - want).max() / scale < FORWARD_RTOL
    assert np.abs(bf16 - fp32).max() / scale > 1e-3  # it did compute in bfloat16
    metrics = make_eval_step(model, nn.CrossEntropyLoss(), precision="bf16")(
        state, init_metrics(), (x, y)
    )
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(bf16), torch.from_numpy(y).long())
    np.testing.assert_allclose(summarize(metrics)["loss"], expected.item(), rtol=1e-5)


def test_loss_matches_torch_autocast(run):
    _, _, ours, theirs, _ = run
    np.testing.assert_allclose(ours, theirs, rtol=LOSS_RTOL)


def test_weights_match_torch_autocast_and_stay_float32(run):
    state, ref, _, _, _ = run
    for leaf in jax.tree_util.tree_leaves((state.params, state.opt_state)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
    got = flax_to_torch(state.variables)
    for key, value in ref.state_dict().items():
        np.testing.assert_allclose(got[key], value.numpy(), atol=WEIGHT_ATOL, err_msg=key)


def test_bf16_differs_from_fp32(run):
    # the option must change the arithmetic: the same step in float32 gives another loss
    _, _, ours, _, batches = run
    torch.manual_seed(0)
    model, opt = models.LeNet(), optim.SGD(0.05)
    template = jax.eval_shape(model.init, jax.random.key(0), jnp.asarray(batches[0][0]))
    state = TrainState.create(
        model, opt, batches[0][0], variables=torch_to_flax(TorchLeNet().state_dict(), template)
    )
    x, y = batches[0]
    _, metrics = make_train_step(model, nn.CrossEntropyLoss(), opt)(
        state, init_metrics(), (x, y.astype(np.int32))
    )
    fp32 = summarize(metrics)["loss"]
    assert fp32 != ours[0]
    assert abs(fp32 - ours[0]) < LOSS_RTOL * fp32


def test_batch_norm_statistics_stay_float32():
    model, opt = models.ResNetCIFAR(), optim.SGD(0.1)
    x = np.random.default_rng(1).normal(size=(4, 3, 32, 32)).astype(np.float32)
    y = np.arange(4, dtype=np.int32)
    state = TrainState.create(model, opt, x)
    before = jax.tree_util.tree_map(np.asarray, state.batch_stats)
    step = make_train_step(model, nn.CrossEntropyLoss(), opt, precision="bf16")
    state, _ = step(state, init_metrics(), (x, y))
    pairs = list(
        zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(state.batch_stats))
    )
    for old, new in pairs:  # running means/vars float32, num_batches_tracked int32
        assert new.dtype == old.dtype
    assert {str(new.dtype) for _, new in pairs} == {"float32", "int32"}
    assert any(not np.array_equal(old, new) for old, new in pairs)
    metrics = make_eval_step(model, nn.CrossEntropyLoss(), precision="bf16")(
        state, init_metrics(), (x, y)
    )
    assert np.isfinite(summarize(metrics)["loss"])


def test_unknown_precision_is_refused():
    model, opt = models.LeNet(), optim.SGD(0.1)
    with pytest.raises(ValueError, match=r"precision must be one of \('fp32', 'bf16'\)"):
        make_train_step(model, nn.CrossEntropyLoss(), opt, precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        make_eval_step(model, nn.CrossEntropyLoss(), precision="float16")
