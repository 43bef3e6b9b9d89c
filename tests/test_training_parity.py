"""Twenty training steps of LeNet in torch and in jaxnn from the same weights.

Same initial weights (torch's init, copied with ``torch_to_flax``; the trained
jaxnn weights go back with ``flax_to_torch`` for the comparison), the
same random batches, CrossEntropyLoss, and SGD(momentum, weight decay) or Adam:
the loss at every step and the final weights must agree.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxnn import optim
from jaxnn.compat import flax_to_torch, torch_to_flax
from jaxnn.compat.torch_models import LeNet as TorchLeNet
from jaxnn.losses import CrossEntropyLoss
from jaxnn.models import LeNet

# Per-step loss: relative; final weights: absolute (float32, 20 steps).
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-4

N_STEPS = 20
BATCH = 16
N_CLASSES = 10

OPTIMIZERS = {
    "sgd": (
        lambda: optim.SGD(lr=0.01, momentum=0.9, weight_decay=5e-4),
        lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=5e-4),
    ),
    "adam": (
        lambda: optim.Adam(lr=1e-3),
        lambda params: torch.optim.Adam(params, lr=1e-3),
    ),
}


@pytest.fixture(scope="module")
def setup():
    """Initial variables, batches and the jitted loss-and-gradient, built once per module.

    The initial weights are torch's default init, moved to jaxnn with ``torch_to_flax``
    into a template from ``jax.eval_shape`` (no weights are drawn on the JAX side).
    """
    rng = np.random.default_rng(0)
    batches = [
        (
            rng.normal(size=(BATCH, 3, 32, 32)).astype(np.float32),
            rng.integers(0, N_CLASSES, BATCH),
        )
        for _ in range(N_STEPS)
    ]
    model = LeNet()
    template = jax.eval_shape(model.init, jax.random.key(0), jnp.asarray(batches[0][0]))
    torch.manual_seed(0)
    variables = torch_to_flax(TorchLeNet().state_dict(), template)
    loss_fn = CrossEntropyLoss()

    @jax.jit
    def loss_and_grad(params, x, y):
        loss_and_grad.traces += 1  # runs once per compilation
        return jax.value_and_grad(lambda p: loss_fn(model.apply({**variables, "params": p}, x), y))(
            params
        )

    loss_and_grad.traces = 0
    return variables, batches, loss_and_grad


def _train_jaxnn(variables, batches, loss_and_grad, tx):
    traces = []

    @jax.jit
    def update(grads, opt_state, params):
        traces.append(1)  # runs once per compilation
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    params = variables["params"]
    opt_state = tx.init(params)
    losses = []
    for x, y in batches:
        loss, grads = loss_and_grad(params, jnp.asarray(x), jnp.asarray(y))
        params, opt_state = update(grads, opt_state, params)
        losses.append(loss)
    assert len(traces) == 1
    assert loss_and_grad.traces == 1  # also across the tests of this module
    return {**variables, "params": params}, np.array([float(v) for v in losses])


def _train_torch(variables, batches, make_opt):
    model = TorchLeNet()
    model.load_state_dict(flax_to_torch(variables), strict=True)
    opt = make_opt(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model.state_dict(), np.array(losses)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_lenet_training_matches_torch(setup, name):
    variables, batches, loss_and_grad = setup
    make_tx, make_torch_opt = OPTIMIZERS[name]
    final, losses = _train_jaxnn(variables, batches, loss_and_grad, make_tx())
    torch_state, torch_losses = _train_torch(variables, batches, make_torch_opt)

    np.testing.assert_allclose(losses, torch_losses, rtol=LOSS_RTOL, atol=0)
    ours = flax_to_torch(final)
    initial = flax_to_torch(variables)
    assert ours.keys() == torch_state.keys()
    for key, value in ours.items():
        np.testing.assert_allclose(
            value.numpy(), torch_state[key].numpy(), rtol=0, atol=WEIGHT_ATOL, err_msg=key
        )
    # the weights moved far more than the tolerance, so the comparison means something
    moved = max(float((ours[k] - initial[k]).abs().max()) for k in ours)
    assert moved > 10 * WEIGHT_ATOL
