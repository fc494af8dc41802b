"""Content-addressed stage outputs with atomic commits.

A stage's output lives in `runs/<model>/<stage>-<key>/`, where `key` hashes the stage's config and
its inputs' hashes. The directory is built under a temporary name and renamed into place only when
complete, with `manifest.json` written last inside it: a directory without a manifest, or a
temporary one left by an interrupted run, is never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from edgepipe_base.atomic import file_sha256, normal_mode, write_atomic, write_json  # noqa: F401
from edgepipe_base.errors import EdgepipeError

MANIFEST = "manifest.json"


def key(config: dict) -> str:
    """Short stable hash of a JSON-able config (sorted keys)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def stage(root: Path, name: str, config: dict, produce: Callable[[Path], dict],
          force: bool = False) -> tuple[Path, dict]:
    """Return (dir, manifest) of stage `name` for `config`, running `produce(tmp_dir)` if not cached.

    `produce` writes its files into the directory it is given and returns the manifest (JSON-able).
    """
    final = Path(root) / f"{name}-{key(config)}"
    manifest_path = final / MANIFEST
    if manifest_path.exists() and not force:
        return final, json.loads(manifest_path.read_text())
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    except OSError as exc:
        raise EdgepipeError(f"{final.parent}: cannot write there ({exc.strerror}); "
                            "choose another --out folder") from None
    try:
        manifest = produce(tmp)
        manifest = {"stage": name, "config": config, **manifest}
        write_json(tmp / MANIFEST, manifest)
        normal_mode(tmp)
        if final.exists() and force:
            shutil.rmtree(final)
        try:
            os.rename(tmp, final)
        except OSError:
            if not manifest_path.exists():        # not another run's finished copy: a real failure
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # a concurrent run finished first: use its copy
            return final, json.loads(manifest_path.read_text())
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EdgepipeError(f"{final}: cannot write stage output ({exc.strerror}); free some space "
                            "or choose another --out folder") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, manifest
