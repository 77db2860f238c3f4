"""Class names and label groupings (SIPaKMeD 5-class, 3-class, 2-class).

The five SIPaKMeD classes are cell types, not cancer stages: superficial-intermediate and
parabasal are normal, metaplastic is benign, koilocytotic and dyskeratotic are abnormal
(Plissiti et al., ICIP 2018).
"""
from __future__ import annotations

__all__ = ["SIPAKMED_CLASSES", "GROUPINGS", "group_label", "grouping_classes"]

#: Canonical order of the 5 SIPaKMeD classes (folder names used by the synthetic generator).
SIPAKMED_CLASSES: tuple[str, ...] = (
    "superficial-intermediate",
    "parabasal",
    "metaplastic",
    "koilocytotic",
    "dyskeratotic",
)

#: grouping name -> {5-class name -> grouped name}; "5" is the identity.
GROUPINGS: dict[str, dict[str, str]] = {
    "5": {c: c for c in SIPAKMED_CLASSES},
    "3": {
        "superficial-intermediate": "normal",
        "parabasal": "normal",
        "metaplastic": "benign",
        "koilocytotic": "abnormal",
        "dyskeratotic": "abnormal",
    },
    "2": {
        "superficial-intermediate": "normal",
        "parabasal": "normal",
        "metaplastic": "normal",
        "koilocytotic": "abnormal",
        "dyskeratotic": "abnormal",
    },
}

_ORDER = {"3": ("normal", "benign", "abnormal"), "2": ("normal", "abnormal")}


def _canon(name: str) -> str:
    """Normalise a class-folder name: 'im_Superficial-Intermediate' -> 'superficial-intermediate'."""
    n = name.strip().lower().replace("_", "-").replace(" ", "-")
    if n.startswith("im-"):
        n = n[3:]
    return n


def group_label(name: str, grouping: str | None) -> str:
    """Map a class name to its grouped name; ``grouping`` None or "5" keeps it.

    Raises:
        ValueError: unknown grouping, or a class that is not a SIPaKMeD class under a 2-/3-class grouping.
    """
    if grouping in (None, "5", 5):
        return name
    g = str(grouping)
    if g not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {sorted(GROUPINGS)}")
    c = _canon(name)
    if c not in GROUPINGS[g]:
        raise ValueError(
            f"class {name!r} is not a SIPaKMeD class; the {g}-class grouping needs folders named "
            f"like {list(SIPAKMED_CLASSES)}"
        )
    return GROUPINGS[g][c]


def grouping_classes(grouping: str | None) -> tuple[str, ...] | None:
    """Class names in order for a grouping ("3"/"2"), or None for no grouping / "5" (use the data's)."""
    if grouping in (None, "5", 5):
        return None
    return _ORDER[str(grouping)]
