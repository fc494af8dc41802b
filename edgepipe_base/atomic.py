"""Atomic file writes: a reader never sees half a file, and a failed write leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from edgepipe_base.errors import EdgepipeError

# the process umask, read once (reading it means setting it, which is not thread-safe later on)
_UMASK = os.umask(0)
os.umask(_UMASK)


def normal_mode(path: str | Path) -> None:
    """Give a file or folder made by mkstemp/mkdtemp (0600/0700) the mode a plain open() or mkdir()
    would have given it under the user's umask, so other users and tools can read what we write."""
    path = Path(path)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_UMASK)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a file via a temp name + rename, so readers never see half of it."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise EdgepipeError(f"{path}: cannot write ({exc.strerror}); free some space or choose "
                            "another output folder") from None
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
