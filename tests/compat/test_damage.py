"""Damaged files are detected, never converted: a seeded fuzz through ``jaxnn-compat
convert`` (in-process, ``jaxnn.compat.cli.main``), and the checks behind it one by one.

The fuzz damages copies of SimpleCNN's weights in every format the CLI reads -- byte flips
(XOR with a random non-zero byte), truncations, empty files, random bytes -- and converts
each. Every case must end in exit 2 with one ``jaxnn-compat: error:`` line and no
traceback on stderr (fd level: tensorstore's threads print there too), or, where the
damage cannot change a value (zip padding, a timestamp), in exit 0 with weights bit
identical to the undamaged conversion. Never exit 0 with other weights, never a file
left behind. Cases (seed 17): 88 for the .pth, 56 for the .safetensors, 7 per file for
each of two jaxnn checkpoints (the converter's uncompressed one and ``jaxnn.save``'s
compressed one): 77 each with the 11 files this orbax writes -- 298 in all (305 when
orbax's threads happen to write the compressed checkpoint's data in two files).
"""

from __future__ import annotations

import json
import random
import re
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from jaxnn import checkpoint  # noqa: E402
from jaxnn.compat import torch_models  # noqa: E402
from jaxnn.compat.cli import main  # noqa: E402

SEED = 17
MODEL = "SimpleCNN"


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_state_dict(got: dict, want: dict) -> bool:
    return list(got) == list(want) and all(
        g.dtype == w.dtype
        and g.shape == w.shape
        and g.view(-1).view(torch.uint8).equal(w.view(-1).view(torch.uint8))
        for g, w in zip(got.values(), want.values())
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The undamaged files: a .pth, its conversion to a checkpoint (the reference), a
    .safetensors written by jaxnn, and a compressed checkpoint written by jaxnn.save."""
    root = tmp_path_factory.mktemp("clean")
    torch.manual_seed(SEED)
    torch.save(torch_models.SimpleCNN().state_dict(), root / "model.pth")
    assert main(["convert", str(root / "model.pth"), str(root / "ckpt"), "--model", MODEL]) == 0
    assert main(["convert", str(root / "ckpt"), str(root / "model.safetensors")]) == 0
    variables = checkpoint.load(root / "ckpt")
    checkpoint.save(
        variables, root / "zipped_ckpt", metadata=checkpoint.read_metadata(root / "ckpt")
    )
    return root, variables


def _outcome(argv: list[str], capfd) -> tuple[int, str]:
    rc = main(argv)
    return rc, capfd.readouterr().err


def _judge(name, rc, err, out: Path, identical, directory: Path, before) -> str | None:
    """None if the case ended as it must; else what went wrong."""
    if "Traceback" in err:
        return f"{name}: a traceback on stderr: {err[-300:]}"
    litter = sorted(set(p.name for p in directory.iterdir()) - before)
    if rc == 2:
        errors = [line for line in err.splitlines() if line.startswith("jaxnn-compat: error: ")]
        if len(errors) != 1 or out.exists() or litter:
            return f"{name}: exit 2 but stderr {err!r}, left {litter}"
        return None
    if rc == 0 and out.exists() and identical(out):
        return None
    return f"{name}: exit {rc} with different weights (stderr {err!r})"


def _flips(data: bytes, offsets, rng: random.Random):
    for offset in offsets:
        damaged = bytearray(data)
        damaged[offset] ^= rng.randrange(1, 256)
        yield f"flip@{offset}", bytes(damaged)


def _file_cases(data: bytes, rng: random.Random, uniform: int, focus: list[int], cuts: int):
    """Flips at ``uniform`` random offsets and at each offset in ``focus``, truncations at
    ``cuts`` random lengths, an empty file and random bytes of the same length."""
    yield from _flips(data, rng.sample(range(len(data)), uniform), rng)
    yield from _flips(data, focus, rng)
    for n in sorted(rng.sample(range(1, len(data)), cuts)):
        yield f"cut@{n}", data[:n]
    yield "empty", b""
    yield "random", rng.randbytes(len(data))


def _run_file_cases(cases, suffix: str, work: Path, capfd, identical) -> tuple[int, list[str]]:
    count, failures = 0, []
    for name, data in cases:
        src, out = work / f"damaged{suffix}", work / "out"
        src.write_bytes(data)
        before = set(p.name for p in work.iterdir())
        rc, err = _outcome(["convert", str(src), str(out), "--model", MODEL], capfd)
        failures.append(_judge(name, rc, err, out, identical, work, before))
        shutil.rmtree(out, ignore_errors=True)
        count += 1
    return count, [f for f in failures if f]


def _checkpoint_identical(reference: dict):
    """Whether a written checkpoint holds exactly ``reference``'s leaves, bit for bit."""
    want = jax.tree_util.tree_leaves_with_path(reference)

    def identical(out: Path) -> bool:
        got = jax.tree_util.tree_leaves_with_path(checkpoint.load(out))
        return [p for p, _ in got] == [p for p, _ in want] and all(
            _same_bits(g, w) for (_, g), (_, w) in zip(got, want)
        )

    return identical


def _zip_structure(data: bytes, path: Path) -> list[int]:
    """Offsets of every byte of a zip archive that is not tensor data: local headers (with
    torch's padding), the small records, data descriptors, the central directory."""
    with zipfile.ZipFile(path) as archive:
        data_ranges = []
        for info in archive.infolist():
            if "/data/" in info.filename:
                n, m = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
                start = info.header_offset + 30 + n + m
                data_ranges.append(range(start, start + info.file_size))
    return [i for i in range(len(data)) if not any(i in r for r in data_ranges)]


def test_damaged_pth_is_never_converted(clean, tmp_path, capfd):
    root, reference = clean
    data = (root / "model.pth").read_bytes()
    rng = random.Random(SEED)
    focus = sorted(rng.sample(_zip_structure(data, root / "model.pth"), 40))
    cases = _file_cases(data, rng, uniform=38, focus=focus, cuts=8)
    count, failures = _run_file_cases(
        cases, ".pth", tmp_path, capfd, _checkpoint_identical(reference)
    )
    assert failures == []
    assert count == 88


def test_damaged_safetensors_is_never_converted(clean, tmp_path, capfd):
    root, reference = clean
    data = (root / "model.safetensors").read_bytes()
    rng = random.Random(SEED)
    header = 8 + struct.unpack("<Q", data[:8])[0]
    focus = sorted(rng.sample(range(header), 20))
    cases = _file_cases(data, rng, uniform=26, focus=focus, cuts=8)
    count, failures = _run_file_cases(
        cases, ".safetensors", tmp_path, capfd, _checkpoint_identical(reference)
    )
    assert failures == []
    assert count == 56


def _checkpoint_cases(directory: Path):
    """For every file: flips at 3 random offsets, cut to half, empty, random bytes, gone.
    Each file's generator is seeded by its path, or for orbax's content-named files under
    ``d/``, by their directory and size, so a case is the same whatever orbax names it."""
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = path.relative_to(directory).as_posix()
        data = path.read_bytes()
        stable = f"{path.parent.name}:{len(data)}" if path.parent.name == "d" else rel
        rng = random.Random(f"{SEED}:{stable}")
        offsets = rng.sample(range(len(data)), min(3, len(data)))
        for name, damaged in _flips(data, offsets, rng):
            yield f"{rel} {name}", rel, damaged
        yield f"{rel} cut@{len(data) // 2}", rel, data[: len(data) // 2]
        yield f"{rel} empty", rel, b""
        yield f"{rel} random", rel, rng.randbytes(len(data))
        yield f"{rel} gone", rel, None


@pytest.mark.parametrize("which", ["ckpt", "zipped_ckpt"])
def test_damaged_checkpoint_is_never_converted(which, clean, tmp_path, capfd):
    root, _ = clean
    source = root / which
    want = torch.load(root / "model.pth", weights_only=True)  # what the clean one converts to
    count, failures = 0, []
    for name, rel, damaged in _checkpoint_cases(source):
        work = tmp_path / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work / "ckpt")
        if damaged is None:
            (work / "ckpt" / rel).unlink()
        else:
            (work / "ckpt" / rel).write_bytes(damaged)
        out = work / "out.pth"
        before = set(p.name for p in work.iterdir())
        rc, err = _outcome(["convert", str(work / "ckpt"), str(out)], capfd)

        def identical(path: Path) -> bool:
            return _same_state_dict(torch.load(path, weights_only=True), want)

        failures.append(_judge(f"{which}/{name}", rc, err, out, identical, work, before))
        count += 1
    assert [f for f in failures if f] == []
    files = sum(1 for p in source.rglob("*") if p.is_file())
    assert count == 7 * files and files in (11, 12)  # orbax splits its data in 1 or 2 files


# --- each check, and what it says -------------------------------------------------------


def _flip_in(path: Path, needle: bytes, at: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[data.index(needle) + at] ^= 0x5A
    path.write_bytes(bytes(data))


def _error(capfd) -> str:
    err = capfd.readouterr().err
    assert "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("jaxnn-compat: error: ")]
    return line


@pytest.mark.parametrize("how", ["streamed", "torch.load fallback"])
def test_a_flipped_tensor_record_names_the_key(how, tmp_path, capfd, monkeypatch):
    from jaxnn.compat import pth

    torch.manual_seed(0)
    sd = torch_models.SimpleCNN().state_dict()
    torch.save(sd, tmp_path / "bad.pth")
    _flip_in(tmp_path / "bad.pth", sd["fc1.weight"].numpy().tobytes()[:64], at=5000)
    if how == "torch.load fallback":  # a torch that does not say where storages lie
        monkeypatch.setattr(pth.PthFileTensors, "locate", classmethod(lambda cls, *a: None))
    argv = ["convert", str(tmp_path / "bad.pth"), str(tmp_path / "out"), "--model", MODEL]
    assert main(argv) == 2
    line = _error(capfd)
    assert f"{tmp_path / 'bad.pth'}: damaged: " in line
    if how == "streamed":
        assert re.search(
            r"tensor 'fc1\.weight': record bad/data/\d+ fails its CRC-32 check "
            r"\(read [0-9a-f]{8}, the archive says [0-9a-f]{8}\)",
            line,
        )
    else:
        assert re.search(
            r"record bad/data/\d+ \(holding 'fc1\.weight'\) is unreadable: Bad CRC-32", line
        )
    assert not (tmp_path / "out").exists()
    assert main(["verify", str(tmp_path / "bad.pth"), "--model", MODEL]) == 2
    assert "fc1.weight" in _error(capfd)


def test_a_re_zipped_pth_with_compressed_records_converts_exactly(clean, tmp_path):
    """torch never compresses a record, but a re-zipped file may: torch.load with mmap
    would read the compressed bytes as values; they are checked and decompressed."""
    root, reference = clean
    with zipfile.ZipFile(root / "model.pth") as src:
        with zipfile.ZipFile(tmp_path / "zipped.pth", "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info.filename, src.read(info))
    argv = ["convert", str(tmp_path / "zipped.pth"), str(tmp_path / "out"), "--model", MODEL]
    assert main(argv) == 0
    assert _checkpoint_identical(reference)(tmp_path / "out")


def test_a_flipped_pickle_is_damage_not_a_refusal(tmp_path, capfd):
    torch.save(torch_models.SimpleCNN().state_dict(), tmp_path / "bad.pth")
    _flip_in(tmp_path / "bad.pth", b"conv1.weight", at=3)  # inside data.pkl
    argv = ["convert", str(tmp_path / "bad.pth"), str(tmp_path / "out"), "--model", MODEL]
    assert main(argv) == 2
    assert "damaged: Bad CRC-32 for file 'bad/data.pkl'" in _error(capfd)


def test_safetensors_written_by_jaxnn_carry_checksums(clean, tmp_path, capfd):
    from safetensors import safe_open

    root, _ = clean
    with safe_open(root / "model.safetensors", framework="pt") as f:
        record = json.loads(f.metadata()["jaxnn_crc32"])
        kernel = f.get_tensor("fc1.weight")
    assert (
        record["fc1.weight"]["shape"] == [120, 400] and record["fc1.weight"]["dtype"] == "float32"
    )
    assert record["fc1.weight"]["crc32"] == f"{zlib.crc32(kernel.numpy().tobytes()):08x}"
    shutil.copy(root / "model.safetensors", tmp_path / "bad.safetensors")
    _flip_in(tmp_path / "bad.safetensors", kernel.numpy().tobytes()[:64], at=4000)
    argv = ["convert", str(tmp_path / "bad.safetensors"), str(tmp_path / "out"), "--model", MODEL]
    assert main(argv) == 2
    assert re.search(
        r"bad\.safetensors: damaged: tensor 'fc1\.weight': content hash [0-9a-f]{8}, written as",
        _error(capfd),
    )


def test_files_without_checksums_convert_with_a_note(tmp_path, capfd):
    from safetensors.torch import save_file

    sd = torch_models.SimpleCNN().state_dict()
    save_file(sd, tmp_path / "hub.safetensors")  # written elsewhere: no jaxnn record
    torch.save(sd, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    for name in ("hub.safetensors", "legacy.pth"):
        argv = ["convert", str(tmp_path / name), str(tmp_path / f"{name}.ckpt"), "--model", MODEL]
        assert main(argv) == 0
        assert (
            f"{tmp_path / name} carries no checksums: damage to its values cannot be detected"
            in capfd.readouterr().out
        )


def test_an_old_checkpoint_converts_with_one_note(clean, tmp_path, capfd):
    root, _ = clean
    shutil.copytree(root / "ckpt", tmp_path / "old")
    info_file = tmp_path / "old" / checkpoint.METADATA_FILE
    info = json.loads(info_file.read_text())
    old = {k: v for k, v in info.items() if k not in ("integrity", "checksum")}
    info_file.write_text(json.dumps({**old, "format_version": 1}))
    assert main(["convert", str(tmp_path / "old"), str(tmp_path / "old.pth")]) == 0
    err = capfd.readouterr().err
    assert err == (
        f"jaxnn-compat: note: {tmp_path / 'old'} was written before jaxnn recorded content "
        "hashes: its arrays load unchecked\n"
    )
    assert main(["inspect", str(tmp_path / "old")]) == 0  # once per checkpoint and process
    assert capfd.readouterr().err == ""


def test_inspect_says_a_checkpoint_is_damaged(clean, tmp_path, capfd):
    root, _ = clean
    shutil.copytree(root / "ckpt", tmp_path / "bad")
    metadata = tmp_path / "bad" / "arrays" / "_METADATA"
    metadata.write_bytes(metadata.read_bytes()[:-1] + b"!")
    assert main(["inspect", str(tmp_path / "bad")]) == 2
    assert _error(capfd) == (
        f"jaxnn-compat: error: {tmp_path / 'bad'} is damaged: arrays/_METADATA differs from "
        f"what was written (CRC-32 {zlib.crc32((root / 'ckpt/arrays/_METADATA').read_bytes()):08x})"
    )
