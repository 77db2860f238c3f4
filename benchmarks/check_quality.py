"""Check the quality floors of the ``cpu`` profile on the results of the last ``make run``.

``make check-quality`` runs the five notebooks with the ``cpu`` profile (``make run``) and then
this script, which reads the test metrics that notebook 05 wrote (``runs/cpu/eval/``), compares
them with the profile's floors (:attr:`cervix.core.config.Profile.floors`) and exits 1 when one is
missed. The floors depend on the training length, so they are checked here, not asserted in the
notebooks (which only print a warning). Not part of ``.ci/run``: a complete run takes 52-73 min
on 2 float32 CPU cores (depending on the machine).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cervix.core.config import floor_shortfalls, get_profile  # noqa: E402
from cervix.core.paths import pipeline_paths  # noqa: E402


def main(profile_name: str = "cpu") -> int:
    profile = get_profile(profile_name)
    ev = pipeline_paths(profile.name)["eval"]
    metrics = {}
    for stage in ("segmentation", "classification"):
        path = ev / stage / "metrics.json"
        if not path.is_file():
            print(f"check-quality: {path} is missing; run `make run CERVIX_PROFILE={profile.name}` first")
            return 1
        metrics.update(json.loads(path.read_text()))
    for name, floor in profile.floors.items():
        print(f"{name:16s} {metrics.get(name)!s:>8.8}  floor {floor}")
    missed = floor_shortfalls(profile, metrics)
    if missed:
        print(f"check-quality: FAILED, the {profile.name} profile misses its floors: {missed}")
        return 1
    print(f"check-quality: the {profile.name} profile meets its floors")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
