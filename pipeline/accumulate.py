"""results.json accumulates: a run adds or re-measures rows and keeps every row it did not touch.

A row is identified by (variant, target, engine, layout), a row naming no engine being the default
engine's and one naming no layout the default layout's (speed; firmware_gen/layout.py); a new row
replaces the stored row with the same key, in place, and every other stored row and variant stays.
A stored row measured on an earlier build of a variant that this run rebuilt (another sha256) is
kept and marked `stale`, never silently presented as a measurement of the new build.

Kept apart from results.py: that module is part of the measuring code (bench cache keys), this one
only arranges finished rows.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

HISTORY_LIMIT = 100                       # runs remembered in results.json's "runs" list
# what must agree for rows of two runs to sit in one table
COMPARABLE = ("model", "dataset", "dataset_sha256", "labels", "preprocessing")


DEFAULT_ENGINE = "edgepipe"        # a row that names no engine was measured (or skipped) on this one
DEFAULT_LAYOUT = "speed"           # a row that names no layout: the engine's default kernel tables


def row_key(r: dict) -> tuple:
    return r.get("variant"), r.get("target"), r.get("engine") or DEFAULT_ENGINE, r.get("layout") or DEFAULT_LAYOUT


def merge(previous: dict | None, new: dict) -> dict:
    """`new` (this run's document) with every row and variant of `previous` that it did not redo."""
    if not previous:
        return {**new, "runs": [run_entry(new)]}
    new_variants = {v["name"]: v for v in new["variants"]}
    old_sha = {v["name"]: v.get("sha256") for v in previous.get("variants", [])}

    variants = [new_variants.pop(v["name"], v) for v in previous.get("variants", [])]
    variants += [v for v in new["variants"] if v["name"] in new_variants]

    fresh = {row_key(r): r for r in new["results"]}
    rows = []
    for r in previous.get("results", []):
        k = row_key(r)
        if k in fresh:
            rows.append(fresh.pop(k))
        else:
            rows.append(_mark_if_stale(r, old_sha.get(r["variant"]), {v["name"]: v for v in new["variants"]}))
    rows += [r for r in new["results"] if row_key(r) in fresh]

    merged = {**previous, **new, "variants": variants, "results": rows}
    if new.get("float_test_accuracy") is None and previous.get("float_test_accuracy") is not None:
        merged["float_test_accuracy"] = previous["float_test_accuracy"]
    merged["runs"] = [*previous.get("runs", []), run_entry(new)][-HISTORY_LIMIT:]
    return merged


def _mark_if_stale(r: dict, old_sha: str | None, rebuilt: dict) -> dict:
    sha = r.get("variant_sha256") or old_sha
    now = rebuilt.get(r["variant"])
    if now is None or sha is None or now.get("sha256") == sha:
        return r
    return {**r, "variant_sha256": sha,
            "stale": f"measured on an earlier build of {r['variant']} (sha256 {sha[:12]}); "
                     "run this target again to re-measure"}


def run_entry(doc: dict) -> dict:
    """What one run did: when, which variants on which targets (engines where rows have them)."""
    entry = {"created": doc.get("created"),
             "variants": list(dict.fromkeys(r["variant"] for r in doc["results"])) or
                         [v["name"] for v in doc["variants"]],
             "targets": list(dict.fromkeys(r["target"] for r in doc["results"]))}
    engines = list(dict.fromkeys(r["engine"] for r in doc["results"] if r.get("engine")))
    if engines:
        entry["engines"] = engines
    layouts = list(dict.fromkeys(r["layout"] for r in doc["results"] if r.get("layout")))
    if layouts:
        entry["layouts"] = layouts
    return entry


def this_run(doc: dict) -> list[dict]:
    """The rows the latest run measured or recorded (what its exit code is about)."""
    runs = doc.get("runs") or []
    if not runs:
        return list(doc["results"])
    last = runs[-1]
    return [r for r in doc["results"] if r["variant"] in last["variants"] and r["target"] in last["targets"]
            and (not r.get("engine") or r["engine"] in last.get("engines", [r["engine"]]))
            and (not r.get("layout") or r["layout"] in last.get("layouts", [r["layout"]]))
            and not r.get("stale")]


def incompatible(previous: dict, new: dict) -> list[str]:
    """The facts that differ between two runs' documents, so that their rows cannot share a table."""
    return [k for k in COMPARABLE if k in previous and k in new and
            json.dumps(previous[k], sort_keys=True) != json.dumps(new[k], sort_keys=True)]


def load_previous(out_dir: Path, new: dict, note=print) -> dict | None:
    """The stored results.json of `out_dir` when its rows can be merged with `new`; otherwise it is
    kept under another name (said on `note`) and None is returned: nothing is ever deleted."""
    path = Path(out_dir) / "results.json"
    if not path.exists():
        return None
    try:
        previous = json.loads(path.read_text())
        ok = isinstance(previous, dict) and isinstance(previous.get("results"), list) \
            and isinstance(previous.get("variants"), list)
    except (OSError, ValueError):
        previous, ok = None, False
    differ = incompatible(previous, new) if ok else ["not a readable results file"]
    if not differ:
        return previous
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = path.with_name(f"results.{stamp}.json")
    os.replace(path, kept)
    note(f"note: {path} was from another {' / '.join(differ)}; kept as {kept.name}, starting a new table")
    return None
