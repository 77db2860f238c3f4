"""The built-in synthetic data set as a format: generated once by :mod:`cervix.synthetic.dataset`
into a cache under ``data/`` keyed by its parameters (:func:`ensure_synthetic`), then read as a
masks folder (fields) and a class folder (crops). Caches written before the generator wrote
per-cell truth get their ``masks/instances`` and ``masks/cells.json`` added; clumped caches whose
crops were cut from the clumped fields get their crops cut again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "synthetic_cache_dir",
    "ensure_synthetic",
]


# --------------------------------------------------------------------------------------------
# Synthetic data cache
# --------------------------------------------------------------------------------------------
_SYNTH_DEFAULTS: dict[str, Any] = dict(
    seed=0, n_fields=20, n_crops=200, size=None, field_size=512, difficulty=0.5, clumping=0.0
)

_SYNTH_MARKER = "synth.json"

_SYNTH_INSTANCES = "fields/masks/instances"

_SYNTH_CELLS = "fields/masks/cells.json"

_SYNTH_ADDED = (_SYNTH_INSTANCES, _SYNTH_CELLS)  # what later generators added to a set, in this order

_CROPS_UNCLUMPED = "crops_unclumped"  # marker key: crops cut from unclumped fields (sets made since 2026-12-07)

_SYNTH_CROPS = ("crops", "crops_masks")


def synthetic_cache_dir(**params: Any) -> Path:
    """Cache folder ``data/synthetic/<params>`` for one set of generator parameters (``_k<clumping>``
    appended only when clumping is on, so the unclumped sets keep their folders)."""
    from cervix.core.paths import data_dir

    p = {**_SYNTH_DEFAULTS, **params}
    name = "s{seed}_f{n_fields}_c{n_crops}_{size}_{field_size}_d{difficulty}".format(
        **{**p, "size": p["size"] or "native"}
    )
    if float(p["clumping"]):
        name += f"_k{p['clumping']}"
    return data_dir() / "synthetic" / name


def ensure_synthetic(out: str | Path | None = None, progress: bool = True, **params: Any) -> Path:
    """Generate the synthetic data set into ``out`` unless it is already there.

    The generator writes into ``<out>.partial`` which is renamed to ``out`` when complete, with
    ``out/synth.json`` recording its parameters; an interrupted run never leaves a half set. A
    set made before the fields had instance maps or ``masks/cells.json`` gets them added
    (:func:`_add_instances`); a set recorded without ``clumping`` was made with none; a clumped set
    whose crops were cut from its clumped fields gets them cut again (:func:`_recut_crops`).

    Args:
        out: cache folder; default :func:`synthetic_cache_dir` of the parameters.
        progress: show the generator's progress bar.
        **params: ``cervix.synthetic.dataset.generate`` parameters (seed, n_fields, n_crops, size,
            field_size, difficulty, clumping).

    Raises:
        ValueError: ``out`` holds a set generated with other parameters.
    """
    unknown = set(params) - set(_SYNTH_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown synthetic parameters {sorted(unknown)}; known: {sorted(_SYNTH_DEFAULTS)}")
    p = {**_SYNTH_DEFAULTS, **params}
    out = Path(out) if out is not None else synthetic_cache_dir(**p)
    marker = out / _SYNTH_MARKER
    if marker.is_file():
        old = {"clumping": 0.0, **json.loads(marker.read_text())}  # sets from before clumping had none
        crops_unclumped = old.pop(_CROPS_UNCLUMPED, False)
        if old != json.loads(json.dumps(p)):
            raise ValueError(
                f"{out}: holds synthetic data generated with {old}, not {p}; choose another folder or delete it"
            )
        if p["n_fields"] and not all((out / a).exists() for a in _SYNTH_ADDED):
            _add_instances(out, p, progress)
        if float(p["clumping"]) and p["n_crops"] and not crops_unclumped:
            _recut_crops(out, p, progress)
        return out
    if out.exists() and any(out.iterdir()):
        raise ValueError(
            f"{out}: exists but is not a complete synthetic data set (no {_SYNTH_MARKER}); "
            "delete it or choose another folder"
        )
    from cervix.synthetic import dataset as synth  # lazy: the generator is only needed on a fresh machine

    tmp = _fresh_partial(out)
    tmp.mkdir(parents=True)
    synth.generate(tmp, progress=progress, **p)
    _write_marker(tmp, p)
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out


def _fresh_partial(out: Path) -> Path:
    """``<out>.partial``, emptied of what an interrupted run left there (not created)."""
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    return tmp


def _add_instances(out: Path, p: dict[str, Any], progress: bool) -> None:
    """Upgrade a synthetic set made before ``fields/masks/instances/`` or ``fields/masks/cells.json``
    existed, in place.

    Its fields are rendered again into ``<out>.partial`` (the generator is deterministic per
    field, so these are the same fields; no crops, so only ``n_fields`` fields are drawn), and
    only the missing instances folder or whole-cell file is moved in: the files already there are
    not touched and an interrupted upgrade leaves the set as it was. The new cytoplasm masks must equal the
    cached ones byte for byte, else the set came from an older generator and is refused.

    Raises:
        ValueError: the cached fields differ from today's generator's.
    """
    import shutil

    from cervix.synthetic import dataset as synth  # lazy, as in ensure_synthetic

    tmp = _fresh_partial(out)
    synth.generate(tmp, progress=progress, **{**p, "n_crops": 0})
    new_cyt, old_cyt = tmp / "fields/masks/cytoplasm", out / "fields/masks/cytoplasm"
    for f in sorted(new_cyt.glob("*.png")):
        if not (old_cyt / f.name).is_file() or (old_cyt / f.name).read_bytes() != f.read_bytes():
            shutil.rmtree(tmp)
            raise ValueError(
                f"{out}: made by an older synthetic generator ({old_cyt / f.name} differs from "
                "today's); delete the folder to generate it again"
            )
    for added in _SYNTH_ADDED:
        if not (out / added).exists():  # another process may have upgraded it meanwhile
            (tmp / added).rename(out / added)
    shutil.rmtree(tmp)


def _write_marker(out: Path, p: dict[str, Any]) -> None:
    """``out/synth.json``: the set's parameters, and that its crops come from unclumped fields (atomic)."""
    from cervix.core.files import atomic_write_text

    atomic_write_text(out / _SYNTH_MARKER, json.dumps({**p, _CROPS_UNCLUMPED: True}, indent=1))


def _recut_crops(out: Path, p: dict[str, Any], progress: bool) -> None:
    """Cut the crops of a clumped set made before crops came from unclumped fields again, in place.

    Such a set's crops show their cells under the clumped neighbours of its fields; today's
    generator cuts the same target cells from the fields drawn without clumping
    (:func:`cervix.synthetic.dataset.generate`). The crops are generated into ``<out>.partial``
    (no fields) and swapped in folder by folder (the old folder renamed aside first); the marker
    is rewritten last, so an interrupted upgrade is simply done again. A warning says so: masks
    or classifiers made from the old crops no longer match them.
    """
    import shutil
    import warnings

    from cervix.synthetic import dataset as synth  # lazy, as in ensure_synthetic

    warnings.warn(
        f"{out}: its crops were cut from its clumped fields (a set made before 2026-12-07); cutting them "
        "again from the fields drawn without clumping. Masks or classifiers made from the old crops are stale.",
        stacklevel=3,
    )
    tmp = _fresh_partial(out)
    synth.generate(tmp, progress=progress, **{**p, "n_fields": 0})
    for name in _SYNTH_CROPS:
        old = out / f"{name}.old"
        if old.exists():
            shutil.rmtree(old)
        if (out / name).exists():
            (out / name).rename(old)
        (tmp / name).rename(out / name)
        if old.exists():
            shutil.rmtree(old)
    shutil.rmtree(tmp)
    _write_marker(out, p)
