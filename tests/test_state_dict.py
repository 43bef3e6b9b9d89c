"""jaxnn.state_dict, the torch-free conversion core, and the package's layering rules:
jaxnn/ works without torch and never imports jaxnn.compat, no module reaches into another
module's private names, and every public layer and loss class is ``nn.X``."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen

import jaxnn
import jaxnn as nn
from jaxnn import state_dict as sd

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE_FILES = sorted((ROOT / "jaxnn").rglob("*.py"))
COMPAT_FILES = sorted((ROOT / "compat").rglob("*.py"))


class _Net(nn.Module):
    def setup(self):
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn1 = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 10), nn.Linear(10, 3))

    def __call__(self, x):
        return self.head(self.bn1(self.conv1(x)))


@pytest.fixture(scope="module")
def variables():
    return _Net().init(jax.random.key(0), jnp.ones((1, 3, 6, 6)))


def test_state_dict_is_torch_layout_and_order(variables):
    out = sd.state_dict(variables)
    assert list(out) == [
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "bn1.num_batches_tracked",
        "conv1.weight",
        "conv1.bias",
        "head.1.weight",
        "head.1.bias",
        "head.2.weight",
        "head.2.bias",
    ]
    kernel = np.asarray(variables["params"]["conv1"]["kernel"])
    np.testing.assert_array_equal(out["conv1.weight"], kernel.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(
        out["head.1.weight"], np.asarray(variables["params"]["head"]["1"]["kernel"]).T
    )
    assert out["bn1.num_batches_tracked"].dtype == np.int64
    assert all(a.flags.c_contiguous and a.flags.writeable for a in out.values())


def test_load_state_dict_round_trip_is_bit_exact(variables):
    rng = np.random.default_rng(0)
    torch_like = {
        k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in sd.state_dict(variables).items()
    }
    torch_like["bn1.num_batches_tracked"] = np.array(7, np.int64)
    snapshot = {k: v.copy() for k, v in torch_like.items()}
    loaded = sd.load_state_dict(variables, torch_like)
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(variables)
    back = sd.state_dict(loaded)
    for k, v in torch_like.items():
        np.testing.assert_array_equal(torch_like[k], snapshot[k])  # input untouched
        assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k


def test_abstract_variables_give_torch_shapes(variables):
    abstract = jax.eval_shape(lambda: variables)
    shapes = {k: v.shape for k, v in sd.state_dict(abstract).items()}
    assert shapes["conv1.weight"] == (4, 3, 3, 3) and shapes["head.1.weight"] == (10, 64)


def test_rules_cover_every_row_and_default_to_torch_names():
    assert sd.leaf_rule("params", "kernel").torch_name == "weight"
    assert sd.leaf_rule("params", "scale").torch_name == "weight"
    assert sd.leaf_rule("batch_stats", "mean").torch_name == "running_mean"
    other = sd.leaf_rule("params", "weight_ih_l0")  # no Flax convention: torch's name
    assert other.torch_name == "weight_ih_l0" and other.to_torch(np.ones((2, 3))).shape == (2, 3)
    assert sd.torch_key(sd.BUFFERS, ("pos_encoder", "pe")) == "pos_encoder.pe"
    # a transposed convolution keeps the adjoint conv's HWIO kernel: the kernel row gives
    # torch's (in, out / groups, kH, kW)
    assert sd.torch_shape(sd.leaf_rule("params", "kernel"), (4, 4, 8 // 2, 6)) == (6, 4, 4, 4)


def test_unknown_collection_and_duplicate_keys_are_errors():
    with pytest.raises(ValueError, match=r"collections \['cache'\] that have no torch counterpart"):
        sd.state_dict({"params": {}, "cache": {"k": jnp.ones(2)}})
    clash = {"params": {"fc": {"kernel": jnp.ones((2, 2)), "weight": jnp.ones((2, 2))}}}
    with pytest.raises(ValueError, match=r"two leaves map to the torch key 'fc.weight'"):
        sd.state_dict(clash)


def test_flax_auto_names_are_recognised_in_the_mismatch_error():
    class FlaxNamed(linen.Module):  # a plain linen parent names list children h_0, h_1
        def setup(self):
            self.h = [nn.Linear(2, 2) for _ in range(2)]

        def __call__(self, x):
            for layer in self.h:
                x = layer(x)
            return x

    v = FlaxNamed().init(jax.random.key(0), jnp.ones((1, 2)))
    assert set(v["params"]) == {"h_0", "h_1"}
    torch_keys = {
        f"h.{i}.{n}": np.zeros((2, 2) if n == "weight" else (2,))
        for i in range(2)
        for n in ("weight", "bias")
    }
    with pytest.raises(sd.StateDictMismatchError) as info:
        sd.load_state_dict(v, torch_keys)
    message = str(info.value)
    assert "missing keys (4): h_0.weight" in message
    assert "hint: the model's module paths use '_' where the state_dict's use '.'" in message
    assert "'h_0' vs 'h.0'" in message and "Flax names the modules of a list" in message


# ----------------------------------------------------------------------------- layering


_NO_TORCH = """
import importlib.abc, sys

class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"{name} is unimportable in this test")
        return None

sys.meta_path.insert(0, _Refuse())
"""


def test_jaxnn_works_with_torch_unimportable():
    script = _NO_TORCH + textwrap.dedent(
        """
        import jax, jax.numpy as jnp, numpy as np
        import jaxnn as nn
        from jaxnn import introspect, optim, state_dict, train
        from jaxnn.models import LeNet

        model = LeNet()
        state = train.TrainState.create(model, optim.SGD(0.1), jnp.ones((2, 3, 32, 32)))
        step = train.make_train_step(model, nn.CrossEntropyLoss(), optim.SGD(0.1))
        x, y = np.ones((2, 3, 32, 32), np.float32), np.zeros(2, np.int32)
        state, metrics = step(state, train.init_metrics(), (x, y))
        named = introspect.named_parameters(state.variables)
        sd = state_dict.state_dict(state.variables)
        back = state_dict.load_state_dict(state.variables, sd)
        assert named["conv1.weight"].shape == (6, 3, 5, 5)
        assert "torch" not in sys.modules
        print("ok", len(sd))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["ok", "10"]


def _imports(path: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(module, imported names) for every import statement in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_no_module_under_jaxnn_imports_jaxnn_compat():
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in PACKAGE_FILES
        for module, names in _imports(path)
        if module.startswith("jaxnn.compat") or (module == "jaxnn" and "compat" in names)
    ]
    assert offenders == []


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _private_reaches(path: pathlib.Path) -> list[str]:
    """Private names (``_x``, not dunders) of jaxnn modules that ``path`` imports or reads
    as attributes of an imported jaxnn module. jaxnn's private *modules* (``_tree``,
    ``_files``) are package helpers with public names and may be imported."""
    tree = ast.parse(path.read_text())
    modules: set[str] = set()  # local names bound to jaxnn modules
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jaxnn"):
            for alias in node.names:
                if _is_module(f"{node.module}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
                elif alias.name.startswith("_") and not alias.name.startswith("__"):
                    bad.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("jaxnn"):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            bad.append(f"{node.value.id}.{node.attr}")
    return bad


def test_no_module_reaches_into_anothers_private_names():
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in PACKAGE_FILES + COMPAT_FILES
        if (found := _private_reaches(path))
    }
    assert offenders == {}


def test_files_stay_readable_in_size():
    # catalogues: one entry per torch function or class, read by name, not top to bottom
    catalogues = {"losses.py", "functional.py", "optimizers.py", "lr_scheduler.py"}
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in PACKAGE_FILES + COMPAT_FILES
        if path.name not in catalogues and (n := len(path.read_text().splitlines())) > 520
    }
    assert too_long == {}


def _defined_classes(module) -> list[str]:
    return [
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and value.__module__ == module.__name__
        and not name.startswith("_")
    ]


def test_every_layer_and_loss_class_is_nn_dot_name():
    from jaxnn import layers, losses

    for family in layers.FAMILIES:
        unlisted = set(_defined_classes(family)) - set(family.__all__)
        assert unlisted == set(), f"{family.__name__} defines {unlisted} outside __all__"
        for name in family.__all__:
            assert getattr(nn, name) is getattr(family, name), name
    loss_classes = [n for n in losses.__all__ if inspect.isclass(getattr(losses, n))]
    assert set(_defined_classes(losses)) == set(loss_classes)  # every loss class is listed
    for name in loss_classes:
        assert getattr(nn, name) is getattr(losses, name), name
    assert set(layers.__all__) | set(loss_classes) <= set(jaxnn.__all__)
    assert "cross_entropy" not in jaxnn.__all__  # functions belong to jaxnn.functional
    with pytest.raises(AttributeError, match="has no attribute 'cross_entropy'"):
        nn.cross_entropy  # noqa: B018


def test_every_package_is_installed():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(("jaxnn", *path.parent.relative_to(ROOT / "jaxnn").parts))
        for path in (ROOT / "jaxnn").rglob("__init__.py")
    }
    on_disk |= {
        ".".join(("jaxnn.compat", *path.parent.relative_to(ROOT / "compat").parts))
        for path in (ROOT / "compat").rglob("__init__.py")
    }
    assert set(config["packages"]) == on_disk
