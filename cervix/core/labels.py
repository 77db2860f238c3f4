"""Class names and label groupings (SIPaKMeD 5-class, 3-class, 2-class; Herlev 7-class, 2-class).

The five SIPaKMeD classes are cell types, not cancer stages: superficial-intermediate and
parabasal are normal, metaplastic is benign, koilocytotic and dyskeratotic are abnormal
(Plissiti et al., ICIP 2018). The seven Herlev classes (Jantzen et al., NiSIS 2005) split into
three normal ones and four abnormal ones (dysplasia and carcinoma in situ); Herlev has no benign
class, so only its 2-class grouping exists.
"""

from __future__ import annotations

__all__ = [
    "HEADS",
    "SIPAKMED_CLASSES",
    "HERLEV_CLASSES",
    "GROUPINGS",
    "group_label",
    "grouping_or_none",
    "grouping_classes",
    "class_order",
    "canonical_class",
    "class_names_of_predictions",
]

#: The two masks of a cell, in the order of the segmentation model's output channels and of
#: every masks folder (``<root>/cytoplasm``, ``<root>/nucleus``): the whole cell, its nucleus.
HEADS: tuple[str, str] = ("cytoplasm", "nucleus")

#: Canonical order of the 5 SIPaKMeD classes (folder names used by the synthetic generator).
SIPAKMED_CLASSES: tuple[str, ...] = (
    "superficial-intermediate",
    "parabasal",
    "metaplastic",
    "koilocytotic",
    "dyskeratotic",
)

#: The 7 Herlev classes (folder names as distributed), normal ones first.
HERLEV_CLASSES: tuple[str, ...] = (
    "normal_superficiel",
    "normal_intermediate",
    "normal_columnar",
    "light_dysplastic",
    "moderate_dysplastic",
    "severe_dysplastic",
    "carcinoma_in_situ",
)

#: grouping name -> {class name (canonical form) -> grouped name}; "5" is the identity.
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
        # Herlev
        "normal-superficiel": "normal",
        "normal-intermediate": "normal",
        "normal-columnar": "normal",
        "light-dysplastic": "abnormal",
        "moderate-dysplastic": "abnormal",
        "severe-dysplastic": "abnormal",
        "carcinoma-in-situ": "abnormal",
    },
}

_ORDER = {"3": ("normal", "benign", "abnormal"), "2": ("normal", "abnormal")}


def canonical_class(name: str) -> str:
    """Normalise a class-folder name: 'im_Superficial-Intermediate' -> 'superficial-intermediate'.

    Lower case, ``_`` and spaces as ``-``, SIPaKMeD's ``im_`` prefix dropped.
    """
    n = name.strip().lower().replace("_", "-").replace(" ", "-")
    if n.startswith("im-"):
        n = n[3:]
    return n


def grouping_or_none(grouping: str | int | None) -> str | None:
    """The one reading of a grouping setting: None for the data's own classes (None or "5"),
    else the grouping's name as a string ("3", "2")."""
    return None if grouping in (None, "5", 5) else str(grouping)


def group_label(name: str, grouping: str | None) -> str:
    """Map a class name to its grouped name; ``grouping`` None or "5" keeps it.

    Raises:
        ValueError: unknown grouping, or a class that is not a SIPaKMeD class under a 2-/3-class grouping.
    """
    g = grouping_or_none(grouping)
    if g is None:
        return name
    if g not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {sorted(GROUPINGS)}")
    c = canonical_class(name)
    if c not in GROUPINGS[g]:
        herlev = " or Herlev's " + str(list(HERLEV_CLASSES)) if g == "2" else ""
        raise ValueError(
            f"class {name!r} has no {g}-class group; the {g}-class grouping needs folders named "
            f"like SIPaKMeD's {list(SIPAKMED_CLASSES)}{herlev}"
        )
    return GROUPINGS[g][c]


def grouping_classes(grouping: str | None) -> tuple[str, ...] | None:
    """Class names in order for a grouping ("3"/"2"), or None for no grouping / "5" (use the data's)."""
    g = grouping_or_none(grouping)
    return None if g is None else _ORDER[g]


def class_order(names) -> list[str]:
    """The one class order of every table, figure and model output: biological, not alphabetical.

    SIPaKMeD's order (normal -> benign -> abnormal, :data:`SIPAKMED_CLASSES`) when every name is a
    SIPaKMeD class, Herlev's (:data:`HERLEV_CLASSES`) when every name is a Herlev class, the
    grouping order (normal, benign, abnormal) for grouped names, else sorted.
    """
    names = {str(n) for n in names}
    for known in (SIPAKMED_CLASSES, HERLEV_CLASSES, _ORDER["3"]):
        canon = {canonical_class(k): k for k in known}
        if names and all(canonical_class(n) in canon for n in names):
            rank = {canonical_class(k): i for i, k in enumerate(known)}
            return sorted(names, key=lambda n: (rank[canonical_class(n)], n))
    return sorted(names)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def class_names_of_predictions(predictions) -> list[str]:
    """Class names from the ``prob_<class>`` columns of a predictions DataFrame, in order."""
    return [c[5:] for c in predictions.columns if c.startswith("prob_") and not c.startswith("prob_cal_")]
