"""jaxnn.losses against torch.nn.functional: values and input gradients, every option.

Each case draws random float32 inputs, evaluates the jaxnn loss and torch's, and
compares the outputs and the gradient with respect to `input` (``jax.vjp`` against
torch autograd, both with the same random cotangent).
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from jaxnn import losses as L

# Tolerance of every value and gradient comparison (float32 on the CPU). The
# relative term only matters for the largest sums.
ATOL = 1e-5
RTOL = 1e-6

REDUCTIONS = ["mean", "sum", "none"]
N_CLASSES = 5


def _assert_close(actual, expected, what: str) -> None:
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=RTOL, atol=ATOL, err_msg=what
    )


def _assert_parity(jax_loss, torch_loss, x: np.ndarray, rng: np.random.Generator) -> None:
    """Same value and same d(loss . cotangent)/d(input) in jaxnn and torch."""
    out, vjp = jax.vjp(jax_loss, jnp.asarray(x))
    cotangent = rng.normal(size=out.shape).astype(np.float32)
    (grad,) = vjp(jnp.asarray(cotangent))

    xt = torch.tensor(x, requires_grad=True)
    out_t = torch_loss(xt)
    (out_t * torch.tensor(cotangent)).sum().backward()

    assert out.shape == tuple(out_t.shape)
    assert out.dtype == jnp.float32
    _assert_close(out, out_t.detach().numpy(), "loss value")
    _assert_close(grad, xt.grad.numpy(), "gradient wrt input")


def _t(x):
    return None if x is None else torch.tensor(np.asarray(x))


# --------------------------------------------------------------------------- cross entropy

# (input shape) -> class-index targets have the shape without dim 1 (dim 0 if unbatched).
INPUT_SHAPES = {"batched": (6, N_CLASSES), "kdim": (4, N_CLASSES, 3, 2), "unbatched": (N_CLASSES,)}


def _class_targets(rng, shape, ignore_index):
    target_shape = shape[1:] if len(shape) == 1 else shape[:1] + shape[2:]
    target = rng.integers(0, N_CLASSES, size=target_shape)
    if ignore_index >= 0:
        if target.ndim == 0:
            # an unbatched ignored target would make the mean 0/0; ignore another class
            target = np.asarray((ignore_index + 1) % N_CLASSES)
        else:
            target.flat[::3] = ignore_index  # ignored targets are present
    return target


@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", list(INPUT_SHAPES))
def test_cross_entropy_class_indices(
    layout, weighted, ignore_index, reduction, label_smoothing, rng
):
    shape = INPUT_SHAPES[layout]
    x = rng.normal(size=shape).astype(np.float32)
    target = _class_targets(rng, shape, ignore_index)
    weight = rng.uniform(0.2, 2.0, N_CLASSES).astype(np.float32) if weighted else None
    kwargs = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    _assert_parity(
        lambda xj: L.cross_entropy(xj, jnp.asarray(target), weight=weight, **kwargs),
        lambda xt: TF.cross_entropy(xt, torch.tensor(target), weight=_t(weight), **kwargs),
        x,
        rng,
    )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", list(INPUT_SHAPES))
def test_cross_entropy_probabilities(layout, weighted, reduction, label_smoothing, rng):
    shape = INPUT_SHAPES[layout]
    class_dim = 0 if len(shape) == 1 else 1
    x = rng.normal(size=shape).astype(np.float32)
    target = rng.uniform(size=shape).astype(np.float32)
    target /= target.sum(axis=class_dim, keepdims=True)
    weight = rng.uniform(0.2, 2.0, N_CLASSES).astype(np.float32) if weighted else None
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    _assert_parity(
        lambda xj: L.cross_entropy(xj, target, weight=weight, **kwargs),
        lambda xt: TF.cross_entropy(xt, torch.tensor(target), weight=_t(weight), **kwargs),
        x,
        rng,
    )


def test_cross_entropy_all_targets_ignored_is_nan_like_torch():
    x = np.zeros((3, N_CLASSES), np.float32)
    target = np.full((3,), 2)
    ours = L.cross_entropy(x, target, ignore_index=2)
    theirs = TF.cross_entropy(torch.tensor(x), torch.tensor(target), ignore_index=2)
    assert np.isnan(ours) and torch.isnan(theirs)


def test_cross_entropy_out_of_range_index_is_nan():
    # torch raises here; under jit a value check cannot, so the loss says it with NaN
    loss = jax.jit(L.cross_entropy)(jnp.zeros((2, N_CLASSES)), jnp.array([1, N_CLASSES]))
    assert np.isnan(loss)


# --------------------------------------------------------------------------- nll


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("layout", list(INPUT_SHAPES))
def test_nll_loss(layout, weighted, ignore_index, reduction, rng):
    shape = INPUT_SHAPES[layout]
    x = rng.normal(size=shape).astype(np.float32)
    target = _class_targets(rng, shape, ignore_index)
    weight = rng.uniform(0.2, 2.0, N_CLASSES).astype(np.float32) if weighted else None
    kwargs = dict(ignore_index=ignore_index, reduction=reduction)
    _assert_parity(
        lambda xj: L.nll_loss(xj, target, weight=weight, **kwargs),
        lambda xt: TF.nll_loss(xt, torch.tensor(target), weight=_t(weight), **kwargs),
        x,
        rng,
    )


# --------------------------------------------------------------------------- binary

BCE_SHAPE = (6, N_CLASSES)
WEIGHT_SHAPES = {"none": None, "per_class": (N_CLASSES,), "full": BCE_SHAPE}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", list(WEIGHT_SHAPES))
def test_binary_cross_entropy(weight_shape, reduction, rng):
    x = rng.uniform(0.05, 0.95, BCE_SHAPE).astype(np.float32)
    target = rng.uniform(size=BCE_SHAPE).astype(np.float32)
    ws = WEIGHT_SHAPES[weight_shape]
    weight = None if ws is None else rng.uniform(0.2, 2.0, ws).astype(np.float32)
    _assert_parity(
        lambda xj: L.binary_cross_entropy(xj, target, weight=weight, reduction=reduction),
        lambda xt: TF.binary_cross_entropy(
            xt, torch.tensor(target), weight=_t(weight), reduction=reduction
        ),
        x,
        rng,
    )


def test_binary_cross_entropy_clamps_log_at_saturated_probabilities():
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5], np.float32)
    target = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5], np.float32)
    out, vjp = jax.vjp(lambda xj: L.binary_cross_entropy(xj, target, reduction="none"), x)
    (grad,) = vjp(jnp.ones_like(out))
    xt = torch.tensor(x, requires_grad=True)
    out_t = TF.binary_cross_entropy(xt, torch.tensor(target), reduction="none")
    out_t.sum().backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=RTOL, atol=ATOL)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weighted", [False, True])
@pytest.mark.parametrize("weight_shape", list(WEIGHT_SHAPES))
def test_binary_cross_entropy_with_logits(weight_shape, pos_weighted, reduction, rng):
    x = (3 * rng.normal(size=BCE_SHAPE)).astype(np.float32)
    target = rng.uniform(size=BCE_SHAPE).astype(np.float32)
    ws = WEIGHT_SHAPES[weight_shape]
    weight = None if ws is None else rng.uniform(0.2, 2.0, ws).astype(np.float32)
    pos_weight = rng.uniform(0.5, 4.0, N_CLASSES).astype(np.float32) if pos_weighted else None
    _assert_parity(
        lambda xj: L.binary_cross_entropy_with_logits(
            xj, target, weight=weight, reduction=reduction, pos_weight=pos_weight
        ),
        lambda xt: TF.binary_cross_entropy_with_logits(
            xt,
            torch.tensor(target),
            weight=_t(weight),
            reduction=reduction,
            pos_weight=_t(pos_weight),
        ),
        x,
        rng,
    )


# --------------------------------------------------------------------------- regression

REGRESSION_SHAPE = (6, N_CLASSES)


def _regression_pair(rng):
    x = rng.normal(size=REGRESSION_SHAPE).astype(np.float32)
    target = (x + 1.5 * rng.normal(size=REGRESSION_SHAPE)).astype(np.float32)
    return x, target


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_mse_and_l1(name, reduction, rng):
    x, target = _regression_pair(rng)
    _assert_parity(
        lambda xj: getattr(L, name)(xj, target, reduction=reduction),
        lambda xt: getattr(TF, name)(xt, torch.tensor(target), reduction=reduction),
        x,
        rng,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1_loss(beta, reduction, rng):
    x, target = _regression_pair(rng)
    _assert_parity(
        lambda xj: L.smooth_l1_loss(xj, target, reduction=reduction, beta=beta),
        lambda xt: TF.smooth_l1_loss(xt, torch.tensor(target), reduction=reduction, beta=beta),
        x,
        rng,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [1.0, 0.5, 2.0])
def test_huber_loss(delta, reduction, rng):
    x, target = _regression_pair(rng)
    _assert_parity(
        lambda xj: L.huber_loss(xj, target, reduction=reduction, delta=delta),
        lambda xt: TF.huber_loss(xt, torch.tensor(target), reduction=reduction, delta=delta),
        x,
        rng,
    )


# --------------------------------------------------------------------------- kl


def _torch_kl_div(*args, **kwargs):
    with warnings.catch_warnings():
        # torch warns that reduction='mean' is not the mathematical KL divergence
        warnings.simplefilter("ignore", UserWarning)
        return TF.kl_div(*args, **kwargs)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(log_target, reduction, rng):
    shape = (6, N_CLASSES)
    x = np.asarray(jax.nn.log_softmax(rng.normal(size=shape).astype(np.float32), axis=1))
    target = rng.uniform(size=shape).astype(np.float32)
    target /= target.sum(axis=1, keepdims=True)
    target[0, 0] = 0.0  # xlogy(0, 0) = 0
    if log_target:
        target = np.log(target + 1e-3).astype(np.float32)
    _assert_parity(
        lambda xj: L.kl_div(xj, target, reduction=reduction, log_target=log_target),
        lambda xt: _torch_kl_div(
            xt, torch.tensor(target), reduction=reduction, log_target=log_target
        ),
        x,
        rng,
    )


# --------------------------------------------------------------------------- classes

CLASS_CASES = [
    ("CrossEntropyLoss", "cross_entropy", dict(ignore_index=1, label_smoothing=0.1), "class"),
    ("CrossEntropyLoss", "cross_entropy", dict(reduction="sum"), "prob"),
    ("NLLLoss", "nll_loss", dict(reduction="none", ignore_index=0), "class"),
    ("BCELoss", "binary_cross_entropy", dict(reduction="sum"), "prob"),
    ("BCEWithLogitsLoss", "binary_cross_entropy_with_logits", dict(reduction="none"), "prob"),
    ("MSELoss", "mse_loss", dict(reduction="sum"), "prob"),
    ("L1Loss", "l1_loss", dict(), "prob"),
    ("SmoothL1Loss", "smooth_l1_loss", dict(beta=0.3), "prob"),
    ("HuberLoss", "huber_loss", dict(delta=0.3), "prob"),
    ("KLDivLoss", "kl_div", dict(reduction="batchmean", log_target=False), "prob"),
]


@pytest.mark.parametrize(("cls", "fn", "kwargs", "kind"), CLASS_CASES)
def test_class_equals_function_and_jits(cls, fn, kwargs, kind, rng):
    x = rng.uniform(0.05, 0.95, (6, N_CLASSES)).astype(np.float32)
    if kind == "class":
        target = rng.integers(0, N_CLASSES, 6)
    else:
        target = rng.uniform(size=(6, N_CLASSES)).astype(np.float32)
    loss = getattr(L, cls)(**kwargs)
    expected = getattr(L, fn)(x, target, **kwargs)
    np.testing.assert_array_equal(loss(x, target), expected)
    np.testing.assert_array_equal(loss.forward(x, target), expected)
    np.testing.assert_allclose(jax.jit(loss)(x, target), expected, rtol=RTOL, atol=ATOL)


def test_class_with_weight_matches_torch_module(rng):
    x = rng.normal(size=(6, N_CLASSES)).astype(np.float32)
    target = rng.integers(0, N_CLASSES, 6)
    weight = rng.uniform(0.2, 2.0, N_CLASSES).astype(np.float32)
    ours = L.CrossEntropyLoss(jnp.asarray(weight), label_smoothing=0.2)(x, target)
    theirs = torch.nn.CrossEntropyLoss(torch.tensor(weight), label_smoothing=0.2)(
        torch.tensor(x), torch.tensor(target)
    )
    _assert_close(ours, theirs.numpy(), "CrossEntropyLoss")


def test_repr_like_torch():
    assert repr(L.CrossEntropyLoss()) == repr(torch.nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(L.MSELoss()) == "MSELoss()"
    assert repr(L.HuberLoss(delta=2.0)) == "HuberLoss(delta=2.0)"
    assert (
        repr(L.CrossEntropyLoss(jnp.ones(3), label_smoothing=0.1))
        == "CrossEntropyLoss(weight=Array(shape=(3,), dtype=float32), label_smoothing=0.1)"
    )
    assert repr(L.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"


def test_loss_objects_are_hashable_closures_for_jit():
    loss = L.CrossEntropyLoss(jnp.ones(N_CLASSES))
    step = jax.jit(lambda x, t: loss(x, t))
    assert np.isfinite(step(jnp.zeros((2, N_CLASSES)), jnp.array([0, 1])))
    hash(loss)


# --------------------------------------------------------------------------- errors

X = np.zeros((4, 5), np.float32)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: L.cross_entropy(X, np.zeros((4, 3), np.int32)),
            ValueError,
            r"cross_entropy: target of shape \(4, 3\) does not fit input \(4, 5\): expected "
            r"class indices of shape \(4,\) or probabilities of shape \(4, 5\)",
        ),
        (
            lambda: L.cross_entropy(X, np.zeros((4,), np.float32)),
            TypeError,
            r"cross_entropy: class-index target must be an integer array, got dtype float32",
        ),
        (
            lambda: L.cross_entropy(X, np.zeros((4, 5), np.int32)),
            TypeError,
            r"read as class probabilities, which must be floating point; got dtype int32",
        ),
        (
            lambda: L.cross_entropy(X, np.zeros((4, 5), np.float32), ignore_index=0),
            ValueError,
            r"ignore_index is not supported with probability targets",
        ),
        (
            lambda: L.cross_entropy(X, np.zeros(4, np.int32), weight=np.ones(3, np.float32)),
            ValueError,
            r"cross_entropy: weight of shape \(3,\) does not fit 5 classes: expected shape \(5,\)",
        ),
        (
            lambda: L.cross_entropy(X, np.zeros(4, np.int32), label_smoothing=1.5),
            ValueError,
            r"label_smoothing must be in \[0, 1\], got 1.5",
        ),
        (
            lambda: L.cross_entropy(np.zeros(4, np.int32), np.int32(0)),
            TypeError,
            r"cross_entropy: input must be a floating-point array, got dtype int32",
        ),
        (
            lambda: L.cross_entropy(np.float32(1.0), np.int32(0)),
            ValueError,
            r"input must have a class dimension",
        ),
        (
            lambda: L.nll_loss(X, np.zeros((4, 1), np.int32)),
            ValueError,
            r"nll_loss: target of shape \(4, 1\) does not fit input \(4, 5\): expected class "
            r"indices of shape \(4,\)",
        ),
        (
            lambda: L.binary_cross_entropy(X, np.zeros((4, 5), np.int32)),
            TypeError,
            r"binary_cross_entropy: target must be a floating-point array, got dtype int32",
        ),
        (
            lambda: L.binary_cross_entropy(X, np.zeros((4, 1), np.float32)),
            ValueError,
            r"binary_cross_entropy: target of shape \(4, 1\) does not match input of shape "
            r"\(4, 5\)",
        ),
        (
            lambda: L.binary_cross_entropy_with_logits(X, X, pos_weight=np.ones(4, np.float32)),
            ValueError,
            r"pos_weight of shape \(4,\) does not broadcast to \(4, 5\)",
        ),
        (
            lambda: L.mse_loss(X, X, reduction="avg"),
            ValueError,
            r"mse_loss: reduction='avg' is not one of 'mean', 'sum', 'none'",
        ),
        (
            lambda: L.kl_div(X, X, reduction="avg"),
            ValueError,
            r"kl_div: reduction='avg' is not one of 'mean', 'sum', 'none', 'batchmean'",
        ),
        (
            lambda: L.l1_loss(X, np.zeros(5, np.float32)),
            ValueError,
            r"l1_loss: target of shape \(5,\) does not match input of shape \(4, 5\)",
        ),
        (lambda: L.smooth_l1_loss(X, X, beta=-1.0), ValueError, r"beta must be non-negative"),
        (lambda: L.huber_loss(X, X, delta=0.0), ValueError, r"delta must be positive"),
        (
            lambda: L.MSELoss(reduction="batchmean"),
            ValueError,
            r"MSELoss: reduction='batchmean' is not one of",
        ),
        (lambda: L.HuberLoss(delta=-1.0), ValueError, r"HuberLoss: delta must be positive"),
        (
            lambda: L.CrossEntropyLoss(label_smoothing=-0.1),
            ValueError,
            r"CrossEntropyLoss: label_smoothing must be in \[0, 1\]",
        ),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_shape_errors_raise_under_jit():
    with pytest.raises(ValueError, match=r"expected class indices of shape \(4,\)"):
        jax.jit(L.cross_entropy)(X, np.zeros((4, 3), np.int32))
