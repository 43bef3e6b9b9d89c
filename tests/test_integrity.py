"""jaxnn._integrity: the CRC-32s and seals that tell a damaged file from an intact one."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from jaxnn import _integrity


@pytest.mark.parametrize("nbytes", [0, 1, 999, 1000, 1001, 4096, 12345])
def test_array_crc32_is_zlibs_crc32_of_the_bytes(nbytes, monkeypatch, rng):
    """Pieces checksummed on threads and combined give exactly zlib's CRC-32 of the whole,
    at every piece boundary."""
    monkeypatch.setattr(_integrity, "CHUNK_BYTES", 1000)
    data = rng.integers(0, 256, nbytes, dtype=np.uint8)
    assert _integrity.arrays_crc32([data, data[: nbytes // 2]]) == [
        zlib.crc32(data.tobytes()),
        zlib.crc32(data[: nbytes // 2].tobytes()),
    ]


def test_array_crc32_reads_c_order(rng):
    a = rng.standard_normal((30, 7)).astype(np.float32).T  # a transposed view
    assert _integrity.arrays_crc32([a, np.float32(3.5)]) == [
        zlib.crc32(np.ascontiguousarray(a).tobytes()),
        zlib.crc32(np.float32(3.5).tobytes()),
    ]


def test_crc32_combine(rng):
    a, b = rng.bytes(5000), rng.bytes(77)
    assert _integrity.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_describe_and_differences(rng):
    w = rng.standard_normal((4, 3)).astype(np.float32)
    record = _integrity.describe([("params/fc/kernel", w)])
    assert record == {
        "params/fc/kernel": {
            "dtype": "float32",
            "shape": [4, 3],
            "crc32": f"{zlib.crc32(w.tobytes()):08x}",
        }
    }
    assert _integrity.differences([("params/fc/kernel", w)], record) == {}
    flipped = w.copy()
    flipped.reshape(-1).view(np.uint8)[5] ^= 0x10
    assert _integrity.differences([("params/fc/kernel", flipped)], record) == {
        "params/fc/kernel": f"content hash {zlib.crc32(flipped.tobytes()):08x}, "
        f"written as {record['params/fc/kernel']['crc32']}"
    }
    as_int = w.view(np.int32)  # the same bytes read as another dtype
    assert _integrity.differences([("params/fc/kernel", as_int)], record) == {
        "params/fc/kernel": "read as int32[4, 3], written as float32[4, 3]"
    }
    assert _integrity.differences([("other", w)], record) == {}  # no record: not checked


def test_seal_and_unseal():
    document = {"format_version": 2, "model": "LeNet", "lr": 0.1}
    sealed = _integrity.seal(document)
    assert set(sealed) == {*document, "checksum"}
    reread = json.loads(json.dumps(sealed, indent=2, sort_keys=True))  # layout does not matter
    assert _integrity.unseal(reread) == document
    assert _integrity.opened(reread, "integrity") == (document, True)
    assert _integrity.opened({"format_version": 1}, "integrity") == ({"format_version": 1}, False)
    with pytest.raises(ValueError, match=r"its content hash is [0-9a-f]{8}, written as '"):
        _integrity.unseal({**sealed, "model": "LeNat"})
    with pytest.raises(ValueError, match="it has no checksum entry"):
        _integrity.opened({"integrity": {}}, "integrity")  # a damaged key: not an old file
    with pytest.raises(ValueError, match="not a JSON object but a list"):
        _integrity.unseal([1, 2])


def test_inventory_and_its_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(_integrity, "SMALL_FILE_BYTES", 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "small").write_bytes(b"12345")
    (tmp_path / "d" / "big").write_bytes(b"x" * 100)
    recorded = _integrity.inventory(tmp_path)
    assert recorded == {"d/big": [100, None], "small": [5, f"{zlib.crc32(b'12345'):08x}"]}
    assert _integrity.check_inventory(tmp_path, recorded) is None
    (tmp_path / "d" / "big").write_bytes(b"y" * 100)  # large files: by size only
    assert _integrity.check_inventory(tmp_path, recorded) is None
    (tmp_path / "small").write_bytes(b"12346")
    assert _integrity.check_inventory(tmp_path, recorded) == (
        f"small differs from what was written (CRC-32 {zlib.crc32(b'12345'):08x})"
    )
    (tmp_path / "d" / "big").write_bytes(b"y" * 99)
    assert _integrity.check_inventory(tmp_path, {"d/big": [100, None]}) == (
        "d/big has 99 bytes, written with 100"
    )
    (tmp_path / "d" / "big").unlink()
    assert _integrity.check_inventory(tmp_path, {"d/big": [100, None]}) == "d/big is missing"
    (tmp_path / "extra").write_bytes(b"")  # files the record does not list are not checked
    assert _integrity.check_inventory(tmp_path, {}) is None
