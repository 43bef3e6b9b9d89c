"""jaxnn.checkpoint: plain-variables save/load with orbax, atomic and overwrite-safe."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxnn import _orbax, checkpoint


def _variables(rng: np.random.Generator) -> dict:
    return {
        "params": {
            "conv1": {
                "kernel": jnp.asarray(rng.standard_normal((3, 3, 2, 4)), jnp.float32),
                "bias": jnp.asarray(rng.standard_normal(4), jnp.bfloat16),
            },
            "0": {"scale": rng.standard_normal(4).astype(np.float16)},
        },
        "batch_stats": {
            "bn": {
                "mean": np.zeros(4, np.float32),
                "var": np.ones(4, np.float32),
                "num_batches_tracked": np.asarray(7, np.int32),
            }
        },
    }


def _assert_same(got: dict, want: dict) -> None:
    got_leaves = jax.tree_util.tree_leaves_with_path(got)
    want_leaves = jax.tree_util.tree_leaves_with_path(want)
    assert [p for p, _ in got_leaves] == [p for p, _ in want_leaves]
    for (path, g), (_, w) in zip(got_leaves, want_leaves, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, path
        assert np.array_equal(g.view(f"u{g.itemsize}"), w.view(f"u{w.itemsize}")), path


def _litter(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_save_load_round_trip_is_exact(tmp_path, rng):
    variables = _variables(rng)
    path = checkpoint.save(variables, tmp_path / "ckpt", metadata={"model": "LeNet"})
    assert path == tmp_path / "ckpt" and checkpoint.is_checkpoint(path)
    _assert_same(checkpoint.load(path), variables)
    meta = checkpoint.read_metadata(path)
    assert meta["model"] == "LeNet" and meta["format"] == "jaxnn-checkpoint"
    assert meta["jaxnn_version"]
    assert _litter(tmp_path) == []


def test_load_into_template_casts_and_checks(tmp_path, rng):
    variables = _variables(rng)
    checkpoint.save(variables, tmp_path / "ckpt")
    template = jax.eval_shape(lambda v: v, variables)
    template["params"]["0"]["scale"] = jax.ShapeDtypeStruct((4,), jnp.float32)
    restored = checkpoint.load(tmp_path / "ckpt", template=template)
    assert restored["params"]["0"]["scale"].dtype == np.float32
    np.testing.assert_array_equal(
        restored["params"]["0"]["scale"], variables["params"]["0"]["scale"].astype(np.float32)
    )

    template["params"]["conv1"]["kernel"] = jax.ShapeDtypeStruct((3, 3, 2, 5), jnp.float32)
    template["params"]["extra"] = {"bias": jax.ShapeDtypeStruct((2,), jnp.float32)}
    with pytest.raises(
        ValueError,
        match=r"(?s)missing \(1\): params/extra/bias \(extra\.bias\).*"
        r"params/conv1/kernel \(conv1\.weight\): checkpoint has shape \(3, 3, 2, 4\), "
        r"template \(3, 3, 2, 5\)",
    ):
        checkpoint.load(tmp_path / "ckpt", template=template)


def test_save_does_not_modify_its_input(tmp_path, rng):
    variables = _variables(rng)
    before = jax.tree.map(np.array, variables)
    checkpoint.save(variables, tmp_path / "ckpt")
    _assert_same(variables, before)


def test_refuses_to_overwrite_without_force(tmp_path, rng):
    first, second = _variables(rng), _variables(rng)
    checkpoint.save(first, tmp_path / "ckpt")
    with pytest.raises(FileExistsError, match=r"ckpt already exists; pass force=True"):
        checkpoint.save(second, tmp_path / "ckpt")
    _assert_same(checkpoint.load(tmp_path / "ckpt"), first)

    checkpoint.save(second, tmp_path / "ckpt", force=True)
    _assert_same(checkpoint.load(tmp_path / "ckpt"), second)
    assert _litter(tmp_path) == []


def test_crash_mid_save_leaves_nothing_half_written(tmp_path, rng, monkeypatch):
    old = _variables(rng)
    checkpoint.save(old, tmp_path / "old")

    def crash(self, directory, *args, **kwargs):
        directory.mkdir()
        (directory / "partial").write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(ocp.PyTreeCheckpointer, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(_variables(rng), tmp_path / "new")
    assert not (tmp_path / "new").exists()
    with pytest.raises(OSError, match="disk full"):  # replacing: the old one survives
        checkpoint.save(_variables(rng), tmp_path / "old", force=True)
    monkeypatch.undo()
    _assert_same(checkpoint.load(tmp_path / "old"), old)
    assert _litter(tmp_path) == []


def test_bad_paths_and_metadata(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match=r"directory .*missing does not exist"):
        checkpoint.save(_variables(rng), tmp_path / "missing" / "ckpt")
    with pytest.raises(TypeError, match="not JSON serializable"):
        checkpoint.save(_variables(rng), tmp_path / "ckpt", metadata={"x": object()})
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "plain").mkdir()
    with pytest.raises(FileNotFoundError, match=r"plain is not a jaxnn checkpoint"):
        checkpoint.load(tmp_path / "plain")


def test_shapes_reads_no_arrays(tmp_path, rng):
    variables = _variables(rng)
    checkpoint.save(variables, tmp_path / "ckpt")
    got = checkpoint.shapes(tmp_path / "ckpt")
    want = jax.eval_shape(lambda v: v, variables)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert isinstance(g, jax.ShapeDtypeStruct)
        assert g.shape == w.shape and g.dtype == w.dtype


def test_load_some_leaves(tmp_path, rng):
    variables = _variables(rng)
    checkpoint.save(variables, tmp_path / "ckpt")
    paths = [("params", "conv1", "bias"), ("batch_stats", "bn", "num_batches_tracked")]
    got = checkpoint.load(tmp_path / "ckpt", leaves=paths)
    want = {
        "params": {"conv1": {"bias": variables["params"]["conv1"]["bias"]}},
        "batch_stats": {"bn": {"num_batches_tracked": np.asarray(7, np.int32)}},
    }
    assert sorted(jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(got)) == (
        sorted(jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(want))
    )
    for path in paths:
        g, w = got, want
        for k in path:
            g, w = g[k], w[k]
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and np.array_equal(
            g.view(f"u{g.itemsize}"), w.view(f"u{g.itemsize}")
        )
    # the template is still checked against the whole checkpoint, and casts what is read
    template = jax.eval_shape(lambda v: v, variables)
    template["params"]["conv1"]["bias"] = jax.ShapeDtypeStruct((4,), jnp.float32)
    got = checkpoint.load(tmp_path / "ckpt", template, leaves=paths[:1])
    assert got["params"]["conv1"]["bias"].dtype == np.float32
    template["params"]["extra"] = {"bias": jax.ShapeDtypeStruct((2,), jnp.float32)}
    with pytest.raises(ValueError, match=r"missing \(1\): params/extra/bias"):
        checkpoint.load(tmp_path / "ckpt", template, leaves=paths[:1])
    with pytest.raises(KeyError):
        checkpoint.load(tmp_path / "ckpt", leaves=[("params", "nope")])


def test_uncompressed_and_chunked_arrays_round_trip(tmp_path, rng, monkeypatch):
    monkeypatch.setattr(_orbax, "CHUNK_BYTES", 1000)  # every array here is "large"
    variables = _variables(rng)
    variables["params"]["fc"] = {"kernel": rng.standard_normal((300, 70)).astype(np.float32)}
    for compress in (True, False):
        path = checkpoint.save(variables, tmp_path / f"ckpt{compress}", compress=compress)
        _assert_same(checkpoint.load(path), variables)
    chunked = tmp_path / "ckptFalse"
    assert checkpoint.shapes(chunked)["params"]["fc"]["kernel"].shape == (300, 70)


def test_save_takes_torchs_argument_order_and_warns_on_the_old_one(tmp_path, rng):
    import jaxnn

    variables = _variables(rng)
    jaxnn.save(variables, tmp_path / "new")  # torch.save(obj, f)
    with pytest.warns(DeprecationWarning, match=r"jaxnn\.save\(path, variables\) is deprecated"):
        jaxnn.save(str(tmp_path / "old"), variables)
    _assert_same(jaxnn.load(tmp_path / "old"), jaxnn.load(tmp_path / "new"))
    with pytest.raises(TypeError, match="obj must be a mapping of arrays, got list"):
        jaxnn.save([1, 2], tmp_path / "bad")


# --- damage: detected, named, never loaded ---------------------------------------------


def _flip(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x5A
    path.write_bytes(bytes(data))


def _with_kernel(rng) -> dict:
    variables = _variables(rng)
    variables["params"]["fc"] = {"kernel": rng.standard_normal((300, 70)).astype(np.float32)}
    return variables


def test_the_json_records_and_seals_every_array(tmp_path, rng):
    import json
    import zlib

    variables = _variables(rng)
    checkpoint.save(variables, tmp_path / "ckpt", metadata={"model": "LeNet"})
    raw = json.loads((tmp_path / "ckpt" / checkpoint.METADATA_FILE).read_text())
    assert raw["format_version"] == 2 and len(raw["checksum"]) == 8
    kernel = np.asarray(variables["params"]["conv1"]["kernel"])
    assert raw["integrity"]["arrays"]["params/conv1/kernel"] == {
        "dtype": "float32",
        "shape": [3, 3, 2, 4],
        "crc32": f"{zlib.crc32(kernel.tobytes()):08x}",
    }
    assert "_METADATA" in raw["integrity"]["files"]  # every file under arrays/
    assert "integrity" not in checkpoint.read_metadata(tmp_path / "ckpt")
    with pytest.raises(ValueError, match=r"metadata keys \['checksum'\] are reserved for jaxnn"):
        checkpoint.save(variables, tmp_path / "other", metadata={"checksum": 1})


def test_a_damaged_array_is_named_by_its_path(tmp_path, rng, monkeypatch):
    from jaxnn import _integrity

    monkeypatch.setattr(_integrity, "SMALL_FILE_BYTES", 0)  # no file checked whole
    variables = _with_kernel(rng)
    checkpoint.save(variables, tmp_path / "ckpt", compress=False)
    kernel = variables["params"]["fc"]["kernel"].tobytes()
    for path in (tmp_path / "ckpt" / "arrays").rglob("*"):
        if path.is_file() and (at := path.read_bytes().find(kernel[:64])) >= 0:
            _flip(path, at + 1000)
    with pytest.raises(
        checkpoint.DamagedCheckpointError,
        match=r"ckpt is damaged: params/fc/kernel \(fc\.weight\): content hash [0-9a-f]{8}, "
        r"written as [0-9a-f]{8}",
    ):
        checkpoint.load(tmp_path / "ckpt")
    # the other leaves read fine, alone
    got = checkpoint.load(tmp_path / "ckpt", leaves=[("params", "conv1", "kernel")])
    np.testing.assert_array_equal(
        got["params"]["conv1"]["kernel"], variables["params"]["conv1"]["kernel"]
    )


def test_damaged_files_and_metadata_say_where(tmp_path, rng):
    import shutil

    checkpoint.save(_variables(rng), tmp_path / "ckpt")

    def damaged(change) -> str:
        shutil.rmtree(tmp_path / "bad", ignore_errors=True)
        shutil.copytree(tmp_path / "ckpt", tmp_path / "bad")
        change(tmp_path / "bad")
        with pytest.raises(checkpoint.DamagedCheckpointError) as error:
            checkpoint.load(tmp_path / "bad")
        return str(error.value)

    # the case: one flipped byte in the array metadata (was an AttributeError)
    assert damaged(lambda p: _flip(p / "arrays" / "_METADATA", 100)) == (
        f"{tmp_path / 'bad'} is damaged: arrays/_METADATA differs from what was written "
        f"(CRC-32 {_crc(tmp_path / 'ckpt' / 'arrays' / '_METADATA')})"
    )
    assert "arrays/manifest.ocdbt is missing" in damaged(
        lambda p: (p / "arrays" / "manifest.ocdbt").unlink()
    )
    assert re.search(
        r"arrays/_METADATA has 0 bytes, written with \d+",
        damaged(lambda p: (p / "arrays" / "_METADATA").write_bytes(b"")),
    )
    json_file = checkpoint.METADATA_FILE
    assert f"is damaged: {json_file}: Unterminated string" in damaged(
        lambda p: (p / json_file).write_text((p / json_file).read_text()[:-20])
    )
    assert f"is damaged: {json_file}: 'utf-8' codec can't decode" in damaged(
        lambda p: (p / json_file).write_bytes(b"\xff" + (p / json_file).read_bytes())
    )
    edited = damaged(  # valid JSON, another value: the seal tells
        lambda p: (p / json_file).write_text(
            (p / json_file).read_text().replace('"jaxnn-checkpoint"', '"jaxnn-checkpoinu"')
        )
    )
    assert re.search(rf"is damaged: {json_file}: its content hash is [0-9a-f]{{8}}", edited)
    with pytest.raises(checkpoint.DamagedCheckpointError, match=f"is damaged: {json_file}"):
        checkpoint.read_metadata(tmp_path / "bad")
    with pytest.raises(checkpoint.DamagedCheckpointError, match="is damaged"):
        checkpoint.shapes(tmp_path / "bad")


def _crc(path) -> str:
    import zlib

    return f"{zlib.crc32(path.read_bytes()):08x}"


def test_a_checkpoint_without_hashes_loads_with_one_note(tmp_path, rng, caplog):
    """What jaxnn wrote before content hashes: format 1, no seal, no records."""
    import json

    variables = _variables(rng)
    path = checkpoint.save(variables, tmp_path / "old", metadata={"model": "LeNet"})
    info = json.loads((path / checkpoint.METADATA_FILE).read_text())
    old = {k: v for k, v in info.items() if k not in ("integrity", "checksum")}
    (path / checkpoint.METADATA_FILE).write_text(json.dumps({**old, "format_version": 1}))
    with caplog.at_level("WARNING", logger="jaxnn.checkpoint"):
        _assert_same(checkpoint.load(path), variables)
        checkpoint.load(path, leaves=[("params", "conv1", "bias")])
        assert checkpoint.read_metadata(path)["model"] == "LeNet"
    notes = [r.getMessage() for r in caplog.records if r.name == "jaxnn.checkpoint"]
    assert notes == [
        f"{path} was written before jaxnn recorded content hashes: its arrays load unchecked"
    ]


def test_unknown_leaves_are_a_key_error_not_damage(tmp_path, rng):
    checkpoint.save(_variables(rng), tmp_path / "ckpt")
    with pytest.raises(KeyError, match=r"holds no leaves \[\('params', 'nope'\)\]"):
        checkpoint.load(tmp_path / "ckpt", leaves=[("params", "nope")])
