"""The zip archive of a ``torch.save`` file, as far as checking it needs: where each
record's bytes lie and the CRC-32 the archive stores for it.

torch.load never checks those CRCs, so a flipped byte in a tensor record loads as a
different weight. :func:`index` reads the archive's directory and checks every small
record (the pickle, the byte order, the version) whole; a tensor record is checked by its
reader as it streams it (:class:`RecordCRC`), or by :func:`check_records` where torch
reads the file itself.

Damage raises ``ValueError`` with a one-line reason; the caller names the file.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["ArchiveIndex", "Record", "RecordCRC", "check_records", "index", "record_keys"]

_LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # signature ... name length, extra length
_LOCAL_SIGNATURE = 0x04034B50
_READ_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    """One stored (uncompressed) record of the archive.

    Attributes:
        name: its name in the archive (``<archive>/data/<key>`` for a storage).
        offset: the offset of its first data byte in the file.
        size: its size in bytes.
        crc: its CRC-32 from the archive's directory.
    """

    name: str
    offset: int
    size: int
    crc: int


@dataclass(frozen=True)
class ArchiveIndex:
    """What :func:`index` finds in an archive.

    Attributes:
        storages: the stored tensor records by the offset of their data.
        byteorder: the archive's byte order record (``'little'``, ``'big'``), or None
            when it has none.
        compressed: whether some tensor record is compressed (re-zipped: torch never
            writes one so, and a memory-mapped torch.load reads its compressed bytes as
            values).
    """

    storages: dict[int, Record]
    byteorder: str | None
    compressed: bool


def _is_storage(name: str) -> bool:
    """``<archive>/data/<key>``: a record holding one storage's bytes."""
    parts = name.split("/")
    return len(parts) == 3 and parts[1] == "data"


def _data_offset(f: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Where a record's data starts: after its local header, whose name and extra field
    (torch pads it to align the data) may differ in length from the directory's."""
    f.seek(info.header_offset)
    header = f.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size:
        raise ValueError(f"record {info.filename} lies past the end of the file")
    fields = _LOCAL_HEADER.unpack(header)
    name = f.read(fields[9])
    if fields[0] != _LOCAL_SIGNATURE or name != info.filename.encode():
        raise ValueError(f"the local header of record {info.filename} is damaged")
    return info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]


def index(path: Path) -> ArchiveIndex:
    """Read the archive's directory; check every record but the tensor records whole.

    Args:
        path: the ``torch.save`` file.

    Raises:
        ValueError: a record fails its CRC-32 check, or the archive is unreadable.
    """
    storages, byteorder, compressed = {}, None, False
    try:
        with zipfile.ZipFile(path) as archive, open(path, "rb") as f:
            for info in archive.infolist():
                if not _is_storage(info.filename):
                    data = archive.read(info)  # zipfile checks the CRC-32
                    if info.filename.count("/") == 1 and info.filename.endswith("/byteorder"):
                        byteorder = data.decode(errors="replace").strip()
                elif info.compress_type == zipfile.ZIP_STORED:
                    offset = _data_offset(f, info)
                    storages[offset] = Record(info.filename, offset, info.file_size, info.CRC)
                else:
                    compressed = True
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as e:
        raise ValueError(str(e)) from e
    except (NotImplementedError, RuntimeError) as e:  # a compression or flag zipfile refuses
        raise ValueError(f"unreadable record ({e})") from e
    return ArchiveIndex(storages, byteorder, compressed)


def check_records(path: Path, keys: dict[str, list[str]]) -> None:
    """Check every tensor record's CRC-32, streaming it (for files torch reads itself).

    Args:
        path: the ``torch.save`` file.
        keys: the state_dict keys each record holds, by record name, where known.

    Raises:
        ValueError: naming the first record that fails, and its keys.
    """
    name = ""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if _is_storage(info.filename):
                    name = info.filename
                    with archive.open(info) as record:
                        while record.read(_READ_BYTES):  # zipfile checks the CRC-32 at the end
                            pass
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as e:
        held = ", ".join(repr(k) for k in keys.get(name, [])) or "no state_dict key"
        raise ValueError(f"record {name} (holding {held}) is unreadable: {e}") from e


class RecordCRC:
    """The CRC-32 of one record, folded in as its bytes are read: the caller feeds the
    bytes it reads (:meth:`update`), and :meth:`finish` reads whatever part of the record
    it did not (a tensor may be a view of part of a storage) and compares.

    Args:
        f: the file, open for binary reading and seekable.
        record: the record being read.
        start: the file offset where the caller's reading starts; the record's bytes
            before it are read and folded in now.
    """

    def __init__(self, f: Any, record: Record, start: int):
        self._f, self._record, self._crc = f, record, 0
        self._crc = self._fold(record.offset, start)

    def _fold(self, begin: int, end: int) -> int:
        """The CRC-32 so far, with the record's bytes in [begin, end) read and folded in."""
        crc = self._crc
        self._f.seek(begin)
        while begin < end:
            chunk = self._f.read(min(_READ_BYTES, end - begin))
            if not chunk:
                raise ValueError(f"record {self._record.name} is cut short")
            crc = zlib.crc32(chunk, crc)
            begin += len(chunk)
        return crc

    def update(self, data: Any) -> None:
        self._crc = zlib.crc32(data, self._crc)

    def finish(self, done: int) -> None:
        """Fold in the record's bytes from offset ``done`` to its end and compare.

        Raises:
            ValueError: the record's CRC-32 differs from the archive's.
        """
        crc = self._fold(done, self._record.offset + self._record.size)
        if crc != self._record.crc:
            raise ValueError(
                f"record {self._record.name} fails its CRC-32 check "
                f"(read {crc:08x}, the archive says {self._record.crc:08x})"
            )


def record_keys(meta: Any, archive: ArchiveIndex) -> dict[str, list[str]]:
    """The keys of a state_dict of meta tensors (``torch.load(map_location="meta")``)
    each tensor record holds, where torch says where their storages lie.

    Args:
        meta: the state_dict of meta tensors.
        archive: the archive's :func:`index`.
    """
    keys: dict[str, list[str]] = {}
    for key, t in meta.items():
        record = archive.storages.get(getattr(t.untyped_storage(), "_checkpoint_offset", None))
        if record is not None:
            keys.setdefault(record.name, []).append(key)
    return keys
