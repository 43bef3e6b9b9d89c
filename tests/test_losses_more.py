"""The ranking, embedding, margin, likelihood and CTC losses against torch.nn.functional:
values and gradients with respect to every floating input, every reduction.

As test_losses.py: random float32 inputs, the jaxnn loss and torch's, and the vjp with
the same random cotangent against torch autograd.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import jaxnn as nn
from jaxnn import functional as F
from jaxnn import losses as L

# value and gradient tolerance (float32), as test_losses.py; CTC (a log-sum over every
# alignment) and GaussianNLL's clamped variance use rtol 1e-5, stated where they do
ATOL = 1e-5
RTOL = 1e-6
REDUCTIONS = ["mean", "sum", "none"]
# Each loss runs every reduction and every option value, but not their full product:
# the cases pair each option value with at least one reduction (keeps the run short).
N, C, D = 6, 5, 4


def _assert_parity(jax_loss, torch_loss, inputs, rng, atol=ATOL, rtol=RTOL):
    """Same value and same gradients with respect to every array in ``inputs``; the jaxnn
    side is jitted (one compilation beats dispatching each operation of the loss)."""
    out, vjp = jax.vjp(jax.jit(jax_loss), *[jnp.asarray(x) for x in inputs])
    cotangent = rng.normal(size=out.shape).astype(np.float32)
    grads = vjp(jnp.asarray(cotangent))
    tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
    out_t = torch_loss(*tensors)
    (out_t * torch.tensor(cotangent)).sum().backward()
    assert out.shape == tuple(out_t.shape) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=rtol, atol=atol, err_msg="value")
    for i, (g, t) in enumerate(zip(grads, tensors, strict=True)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad {i}")


def _signs(rng, shape):
    return rng.choice(np.array([-1.0, 1.0], np.float32), size=shape)


@pytest.mark.parametrize(("margin", "reduction"), [(0.0, "mean"), (0.5, "sum"), (0.5, "none")])
def test_margin_ranking_loss(margin, reduction, rng):
    x1, x2 = rng.normal(size=(2, N)).astype(np.float32)
    target = _signs(rng, N)
    _assert_parity(
        lambda a, b: L.margin_ranking_loss(a, b, target, margin, reduction),
        lambda a, b: TF.margin_ranking_loss(
            a, b, torch.tensor(target), margin, reduction=reduction
        ),
        [x1, x2],
        rng,
    )


@pytest.mark.parametrize(("margin", "reduction"), [(1.0, "mean"), (0.5, "none"), (1.0, "sum")])
def test_hinge_embedding_loss(margin, reduction, rng):
    x = rng.uniform(0, 2, size=(N, C)).astype(np.float32)
    target = _signs(rng, (N, C))
    target[0, :2] = 0.0  # neither 1 nor -1: torch adds both terms
    _assert_parity(
        lambda a: L.hinge_embedding_loss(a, target, margin, reduction),
        lambda a: TF.hinge_embedding_loss(a, torch.tensor(target), margin, reduction=reduction),
        [x],
        rng,
    )


@pytest.mark.parametrize(
    ("batched", "margin", "reduction"),
    [(True, 0.0, "mean"), (True, 0.3, "none"), (False, 0.3, "sum"), (False, 0.0, "none")],
)
def test_cosine_embedding_loss(batched, margin, reduction, rng):
    shape = (N, D) if batched else (D,)
    x1, x2 = rng.normal(size=(2, *shape)).astype(np.float32)
    target = _signs(rng, shape[:-1])
    _assert_parity(
        lambda a, b: L.cosine_embedding_loss(a, b, target, margin, reduction),
        lambda a, b: TF.cosine_embedding_loss(
            a, b, torch.tensor(target), margin, reduction=reduction
        ),
        [x1, x2],
        rng,
    )


@pytest.mark.parametrize(
    ("p", "batched", "swap", "reduction"),
    [
        (2.0, True, False, "mean"),
        (1.0, True, True, "sum"),
        (3.0, True, False, "none"),
        (2.0, False, True, "none"),
        (2.0, True, True, "mean"),
    ],
)
def test_triplet_margin_loss(p, batched, swap, reduction, rng):
    shape = (N, D) if batched else (D,)
    a, pos, neg = rng.normal(size=(3, *shape)).astype(np.float32)
    kwargs = dict(margin=1.5, p=p, eps=1e-6, swap=swap, reduction=reduction)
    _assert_parity(
        lambda x, y, z: L.triplet_margin_loss(x, y, z, **kwargs),
        lambda x, y, z: TF.triplet_margin_loss(x, y, z, **kwargs),
        [a, pos, neg],
        rng,
    )


DISTANCES = {
    "default": (None, None),
    "l1": (lambda x, y: jnp.abs(x - y).sum(-1), lambda x, y: (x - y).abs().sum(-1)),
    "cosine": (
        lambda x, y: 1 - (x * y).sum(-1) / jnp.sqrt((x * x).sum(-1) * (y * y).sum(-1)),
        lambda x, y: 1 - TF.cosine_similarity(x, y, eps=0.0),
    ),
}


@pytest.mark.parametrize(
    ("distance", "swap", "reduction"),
    [
        ("default", False, "mean"),
        ("default", True, "none"),
        ("l1", True, "sum"),
        ("cosine", False, "none"),
    ],
)
def test_triplet_margin_with_distance_loss(distance, swap, reduction, rng):
    ours, theirs = DISTANCES[distance]
    a, pos, neg = rng.normal(size=(3, N, D)).astype(np.float32)
    kwargs = dict(margin=0.8, swap=swap, reduction=reduction)
    _assert_parity(
        lambda x, y, z: L.triplet_margin_with_distance_loss(
            x, y, z, distance_function=ours, **kwargs
        ),
        lambda x, y, z: TF.triplet_margin_with_distance_loss(
            x, y, z, distance_function=theirs, **kwargs
        ),
        [a, pos, neg],
        rng,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss(reduction, rng):
    x = (2 * rng.normal(size=(N, C))).astype(np.float32)
    target = _signs(rng, (N, C))
    _assert_parity(
        lambda a: L.soft_margin_loss(a, target, reduction),
        lambda a: TF.soft_margin_loss(a, torch.tensor(target), reduction=reduction),
        [x],
        rng,
    )


@pytest.mark.parametrize(
    ("batched", "weighted", "reduction"),
    [(True, False, "mean"), (True, True, "none"), (False, True, "sum"), (False, False, "none")],
)
def test_multilabel_soft_margin_loss(batched, weighted, reduction, rng):
    shape = (N, C) if batched else (C,)
    x = (2 * rng.normal(size=shape)).astype(np.float32)
    target = rng.integers(0, 2, size=shape).astype(np.float32)
    weight = rng.uniform(0.5, 2.0, C).astype(np.float32) if weighted else None
    _assert_parity(
        lambda a: L.multilabel_soft_margin_loss(a, target, weight, reduction),
        lambda a: TF.multilabel_soft_margin_loss(
            a,
            torch.tensor(target),
            None if weight is None else torch.tensor(weight),
            reduction=reduction,
        ),
        [x],
        rng,
    )


def _multilabel_targets(rng, batched):
    """Class lists padded with -1 (what follows the first -1 is ignored), with repeats."""
    rows = []
    for _ in range(N if batched else 1):
        k = rng.integers(0, C)
        row = np.concatenate(
            [rng.integers(0, C, size=k), [-1], rng.integers(-1, C, size=C - k - 1)]
        )
        rows.append(row[:C])
    rows[0][:3] = [2, 2, -1]  # a repeated target counts twice, as in torch
    target = np.array(rows, np.int64)
    return target if batched else target[0]


@pytest.mark.parametrize(
    ("batched", "reduction"), [(True, "mean"), (True, "none"), (False, "sum"), (False, "none")]
)
def test_multilabel_margin_loss(batched, reduction, rng):
    x = rng.normal(size=(N, C) if batched else (C,)).astype(np.float32)
    target = _multilabel_targets(rng, batched)
    _assert_parity(
        lambda a: L.multilabel_margin_loss(a, target, reduction),
        lambda a: TF.multilabel_margin_loss(a, torch.tensor(target), reduction=reduction),
        [x],
        rng,
    )


@pytest.mark.parametrize(
    ("p", "margin", "batched", "weighted", "reduction"),
    [
        (1, 1.0, True, False, "mean"),
        (2, 0.5, True, True, "none"),
        (1, 2.0, False, True, "sum"),
        (2, 1.0, False, False, "none"),
        (1, 1.0, True, True, "sum"),
    ],
)
def test_multi_margin_loss(p, margin, batched, weighted, reduction, rng):
    x = rng.normal(size=(N, C) if batched else (C,)).astype(np.float32)
    target = rng.integers(0, C, size=(N,) if batched else ())
    weight = rng.uniform(0.5, 2.0, C).astype(np.float32) if weighted else None
    _assert_parity(
        lambda a: L.multi_margin_loss(a, target, p, margin, weight, reduction),
        lambda a: TF.multi_margin_loss(
            a, torch.tensor(target), p, margin, None if weight is None else torch.tensor(weight),
            reduction=reduction,
        ),
        [x],
        rng,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("log_input", "full", "reduction"),
    [(True, False, "mean"), (True, True, "none"), (False, False, "sum"), (False, True, "none")],
)
def test_poisson_nll_loss(log_input, full, reduction, rng):
    x = rng.normal(size=(N, C)).astype(np.float32)
    if not log_input:
        x = np.abs(x) + 0.1
    target = rng.poisson(2.0, size=(N, C)).astype(np.float32)  # 0, 1 and larger counts
    kwargs = dict(log_input=log_input, full=full, eps=1e-8, reduction=reduction)
    _assert_parity(
        lambda a: L.poisson_nll_loss(a, target, **kwargs),
        lambda a: TF.poisson_nll_loss(a, torch.tensor(target), **kwargs),
        [x],
        rng,
    )


VAR_SHAPES = {"full": (N, C), "one_short": (N,), "size_one": (N, 1)}


@pytest.mark.parametrize(
    ("var_shape", "full", "reduction"),
    [
        ("full", False, "mean"),
        ("one_short", True, "none"),
        ("size_one", False, "sum"),
        ("full", True, "none"),
    ],
)
def test_gaussian_nll_loss(var_shape, full, reduction, rng):
    x = rng.normal(size=(N, C)).astype(np.float32)
    target = rng.normal(size=(N, C)).astype(np.float32)
    var = rng.uniform(0.1, 2.0, size=VAR_SHAPES[var_shape]).astype(np.float32)
    var.flat[0] = 1e-8  # below eps: clamped, the gradient still reaches var (torch's no_grad clamp)
    kwargs = dict(full=full, eps=1e-6, reduction=reduction)
    _assert_parity(
        lambda a, v: L.gaussian_nll_loss(a, target, v, **kwargs),
        lambda a, v: TF.gaussian_nll_loss(a, torch.tensor(target), v, **kwargs),
        [x, var],
        rng,
        rtol=1e-5,  # the clamped variance divides by 1e-6
    )


def test_gaussian_nll_loss_with_a_float_variance(rng):
    x, target = rng.normal(size=(2, N, C)).astype(np.float32)
    ours = L.gaussian_nll_loss(x, target, 0.5, full=True)
    theirs = TF.gaussian_nll_loss(torch.tensor(x), torch.tensor(target), 0.5, full=True)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- CTC

T, S = 12, 4  # frames, longest target

# compiled once per shape and setting: optax's CTC scans over the frames, which runs slowly
# op by op
_ctc = jax.jit(L.ctc_loss, static_argnames=("blank", "reduction", "zero_infinity"))


def _ctc_case(rng, normalized=True):
    logits = rng.normal(size=(T, N, C)).astype(np.float32)
    log_probs = np.asarray(jax.nn.log_softmax(logits, axis=2)) if normalized else logits
    target_lengths = np.array([4, 3, 1, 4, 2, 4], np.int64)
    targets = rng.integers(1, C, size=(N, S))
    targets[0, 1] = targets[0, 0]  # a repeated label needs a blank between
    input_lengths = np.array([12, 10, 5, 12, 8, 4], np.int64)  # the last: 4 frames, 4 labels
    targets[5] = [1, 2, 2, 3]  # needs 5 frames, has 4: impossible (infinite loss)
    return log_probs, targets, input_lengths, target_lengths


@pytest.mark.parametrize(
    ("layout", "reduction"), [("padded", "mean"), ("padded", "none"), ("concatenated", "sum")]
)
def test_ctc_loss_with_zero_infinity(layout, reduction, rng):
    log_probs, targets, input_lengths, target_lengths = _ctc_case(rng)
    if layout == "concatenated":
        targets = np.concatenate([t[:n] for t, n in zip(targets, target_lengths, strict=True)])
    args = (targets, input_lengths, target_lengths)
    _assert_parity(
        lambda lp: _ctc(lp, *args, blank=0, reduction=reduction, zero_infinity=True),
        lambda lp: TF.ctc_loss(
            lp, *map(torch.tensor, args), blank=0, reduction=reduction, zero_infinity=True
        ),
        [log_probs],
        rng,
        rtol=1e-5,
    )


@pytest.mark.parametrize(("blank", "normalized"), [(0, False), (C - 1, True)])
def test_ctc_loss_gradient_is_torchs(blank, normalized, rng):
    """torch's gradient with respect to log_probs is exp(log_probs) - posterior; the
    value and gradient agree also for log-probabilities that are not normalized."""
    log_probs, targets, input_lengths, target_lengths = _ctc_case(rng, normalized)
    targets = np.where(targets == blank, (blank + 1) % C, targets)
    keep = slice(0, 5)  # the feasible samples
    args = (targets[keep], input_lengths[keep], target_lengths[keep])
    _assert_parity(
        lambda lp: _ctc(lp, *args, blank=blank, reduction="none"),
        lambda lp: TF.ctc_loss(lp, *map(torch.tensor, args), blank=blank, reduction="none"),
        [log_probs[:, keep]],
        rng,
        rtol=1e-5,
    )


def test_ctc_loss_impossible_alignment_is_infinite_like_torch(rng):
    log_probs, targets, input_lengths, target_lengths = _ctc_case(rng)
    ours = _ctc(log_probs, targets, input_lengths, target_lengths, reduction="none")
    theirs = TF.ctc_loss(
        *map(torch.tensor, (log_probs, targets, input_lengths, target_lengths)), reduction="none"
    )
    assert np.isinf(ours[5]) and torch.isinf(theirs[5])
    np.testing.assert_allclose(ours[:5], theirs[:5].numpy(), rtol=1e-5)


def test_ctc_loss_unbatched(rng):
    log_probs, targets, input_lengths, target_lengths = _ctc_case(rng)
    args = (log_probs[:, 1], targets[1, :3], input_lengths[1], target_lengths[1])  # 3 labels
    ours = _ctc(*args, reduction="none")
    theirs = TF.ctc_loss(*map(torch.tensor, args), reduction="none")
    assert ours.shape == () == tuple(theirs.shape)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5)


# --------------------------------------------------------------------------- classes


def _inputs(rng):
    x1, x2, x3 = rng.normal(size=(3, N, C)).astype(np.float32)
    signs = _signs(rng, N)
    log_probs, targets, input_lengths, target_lengths = _ctc_case(rng)
    return {
        "MarginRankingLoss": ((x1[:, 0], x2[:, 0], signs), dict(margin=0.2)),
        "HingeEmbeddingLoss": ((np.abs(x1), _signs(rng, (N, C))), dict(margin=0.5)),
        "CosineEmbeddingLoss": ((x1, x2, signs), dict(margin=0.1, reduction="sum")),
        "TripletMarginLoss": ((x1, x2, x3), dict(p=1.0, swap=True)),
        "TripletMarginWithDistanceLoss": ((x1, x2, x3), dict(margin=0.5, reduction="none")),
        "SoftMarginLoss": ((x1, _signs(rng, (N, C))), dict()),
        "MultiLabelSoftMarginLoss": ((x1, (x2 > 0).astype(np.float32)), dict(reduction="none")),
        "MultiLabelMarginLoss": ((x1, _multilabel_targets(rng, True)), dict()),
        "MultiMarginLoss": ((x1, rng.integers(0, C, N)), dict(p=2, margin=0.5)),
        "PoissonNLLLoss": ((x1, np.abs(x2)), dict(full=True, eps=1e-6)),
        "GaussianNLLLoss": ((x1, x2, np.abs(x3) + 0.1), dict(full=True)),
        "CTCLoss": ((log_probs, targets, input_lengths, target_lengths), dict(zero_infinity=True)),
    }


@pytest.mark.parametrize(
    "name",
    [
        "MarginRankingLoss", "HingeEmbeddingLoss", "CosineEmbeddingLoss", "TripletMarginLoss",
        "TripletMarginWithDistanceLoss", "SoftMarginLoss", "MultiLabelSoftMarginLoss",
        "MultiLabelMarginLoss", "MultiMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss", "CTCLoss",
    ],
)  # fmt: skip
def test_class_matches_torch_module_and_jits(name, rng):
    args, kwargs = _inputs(rng)[name]
    loss = getattr(L, name)(**kwargs)
    theirs = getattr(torch.nn, name)(**kwargs)(*map(torch.tensor, args))
    ours = jax.jit(loss)(*args)  # the loss object closes over its settings under jit
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=ATOL)
    np.testing.assert_array_equal(jax.jit(loss.forward)(*args), ours)
    assert getattr(nn, name) is getattr(L, name)


def test_functions_are_F_too():
    for name in ["ctc_loss", "gaussian_nll_loss", "triplet_margin_with_distance_loss"]:
        assert getattr(F, name) is getattr(L, name) and name in F.__all__


def test_repr_like_the_other_losses():
    assert repr(L.TripletMarginLoss()) == "TripletMarginLoss()"
    assert repr(L.CTCLoss(blank=3, zero_infinity=True)) == "CTCLoss(blank=3, zero_infinity=True)"
    assert repr(L.PoissonNLLLoss(log_input=False)) == "PoissonNLLLoss(log_input=False)"


# --------------------------------------------------------------------------- errors

X = np.zeros((N, C), np.float32)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: L.margin_ranking_loss(X[:, 0], X[:3, 0], X[:, 0]),
            ValueError,
            r"margin_ranking_loss: input2 of shape \(3,\) does not match input1 of shape \(6,\)",
        ),
        (
            lambda: L.hinge_embedding_loss(X, X[0]),
            ValueError,
            r"hinge_embedding_loss: target of shape \(5,\) does not match input of shape",
        ),
        (
            lambda: L.cosine_embedding_loss(X, X, X),
            ValueError,
            r"cosine_embedding_loss: expected inputs of shape \(N, D\) with target \(N,\)",
        ),
        (
            lambda: L.triplet_margin_loss(X, X, X, margin=0.0),
            ValueError,
            r"triplet_margin_loss: margin must be greater than 0, got 0.0",
        ),
        (
            lambda: L.triplet_margin_loss(X, X[0], X),
            ValueError,
            r"same number of dimensions, but got: anchor 2D, positive 1D, and negative 2D",
        ),
        (
            lambda: L.TripletMarginWithDistanceLoss(margin=-1.0),
            ValueError,
            r"TripletMarginWithDistanceLoss: margin must be greater than 0, got -1.0",
        ),
        (
            lambda: L.multilabel_margin_loss(X, X),
            TypeError,
            r"multilabel_margin_loss: target must be an integer array, got dtype float32",
        ),
        (
            lambda: L.multilabel_margin_loss(X, np.zeros(C, np.int32)),
            ValueError,
            r"expected input of shape \(N, C\) or \(C,\) and a target of the same shape",
        ),
        (
            lambda: L.multi_margin_loss(X, np.zeros(N, np.int32), p=3),
            ValueError,
            r"only p == 1 and p == 2",
        ),
        (lambda: L.MultiMarginLoss(p=0), ValueError, r"MultiMarginLoss: only p == 1 and p == 2"),
        (
            lambda: L.multi_margin_loss(X, np.zeros(N, np.int32), weight=np.ones((C, 1))),
            ValueError,
            r"weight must be one-dimensional, got shape \(5, 1\)",
        ),
        (
            lambda: L.multi_margin_loss(X, np.zeros(N, np.float32)),
            TypeError,
            r"multi_margin_loss: class-index target must be an integer array",
        ),
        (
            lambda: L.poisson_nll_loss(X, X, reduction="avg"),
            ValueError,
            r"poisson_nll_loss: reduction='avg' is not one of",
        ),
        (
            lambda: L.gaussian_nll_loss(X, X, -np.ones((N, C), np.float32)),
            ValueError,
            r"gaussian_nll_loss: var has negative entry/entries",
        ),
        (lambda: L.gaussian_nll_loss(X, X, -1.0), ValueError, r"var has negative entry"),
        (
            lambda: L.gaussian_nll_loss(X, X, np.ones((N, 2), np.float32)),
            ValueError,
            r"gaussian_nll_loss: var is of incorrect size: \(6, 2\) for input \(6, 5\)",
        ),
        (
            lambda: L.ctc_loss(np.zeros((4, 2, 3, 1), np.float32), np.zeros(2, np.int32), 6, 2),
            ValueError,
            r"ctc_loss: log_probs must be \(T, N, C\) or \(T, C\)",
        ),
        (
            lambda: L.ctc_loss(np.zeros((4, 2, 3), np.float32), np.zeros((2, 2)), [4, 4], [2, 2]),
            TypeError,
            r"ctc_loss: targets must be integers, got dtype float",
        ),
        (
            lambda: L.ctc_loss(
                np.zeros((4, 2, 3), np.float32), np.zeros((2, 2), np.int32), [4, 4], [2, 2], blank=3
            ),
            ValueError,
            r"ctc_loss: blank must be in \[0, 3\), got 3",
        ),
        (
            lambda: L.ctc_loss(
                np.zeros((4, 2, 3), np.float32), np.zeros((2, 2), np.int32), [4], [2, 2]
            ),
            ValueError,
            r"ctc_loss: input_lengths must have shape \(2,\), got \(1,\)",
        ),
        (lambda: L.CTCLoss(reduction="batchmean"), ValueError, r"CTCLoss: reduction='batchmean'"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
