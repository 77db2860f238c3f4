"""What the dataset readers share: their arguments, the files they pass over, class and image checks.

Layouts (called through :func:`cervix.data.formats.read_dataset`):

- masks folder: ``images/<id>.<ext>`` with ``masks/cytoplasm/<id>.png``,
  ``masks/nucleus/<id>.png`` and optional ``masks/instances/<id>.png`` (:func:`read_masks_folder`).
- classes folder: ImageFolder ``<root>/<class>/<id>.<ext>``, optional masks root
  ``<masks_root>/{cytoplasm,nucleus}/<class>/<id>.png`` and optional ``<root>/groups.csv``
  (``path,group``: the source image of each crop) (:func:`read_classes_folder`). Herlev
  (Jantzen et al., 2005) is read this way; its ``*-d.bmp`` mask images are skipped.
- SIPaKMeD (Plissiti et al., ICIP 2018): ``im_<Class>/im_<Class>/NNN.bmp`` full images with
  ``NNN_cytMM.dat`` / ``NNN_nucMM.dat`` cell and nucleus contours, or the ``CROPPED/NNN_MM.bmp``
  cell crops (:func:`read_sipakmed`, :func:`read_sipakmed_contour`,
  :func:`rasterize_sipakmed_contours`).
- ISBI 2014 Overlapping Cervical Cytology challenge (Lu et al., IEEE TMI 2015 and 2017):
  ``1.tif, 2.tif, ...`` with one ``.mat`` ground truth holding ``<prefix>_Cytoplasm`` and
  ``<prefix>_Nuclei`` per-cell masks (:func:`read_isbi2014`).
- label maps: ``labelmaps/[<class>/]<id>.png`` grey levels coding background / cell / nucleus,
  beside ``crops/`` (or ``images/``) (:func:`read_labelmap`).

The readers share their arguments: ``root`` (the dataset folder), ``masks_root`` (the masks
root of class-folder crops), ``grouping`` and ``class_names`` (see :func:`cervix.data.formats.read_dataset`),
``require_masks`` (fail when the dataset has no masks) and ``skipped``. Each reader appends the
files it passes over to ``skipped`` as ``(path, reason)`` and returns the records; masks that
are not mask files (contours, ``.mat`` entries, label maps) are decoded by
:func:`decode_masks` when a record is loaded, with the per-cell masks of SIPaKMeD and ISBI 2014.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cervix.core.labels import group_label
from cervix.data.decode import IMAGE_EXTENSIONS

IGNORED_NAMES = {"groups.csv"}


# --------------------------------------------------------------------------------------------
# Format helpers
# --------------------------------------------------------------------------------------------
def is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def map_label(label: str, grouping: str | None, where: Path) -> str:
    try:
        return group_label(label, grouping)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def check_class(label: str, class_names: Sequence[str] | None, where: Path) -> None:
    if class_names is not None and label not in class_names:
        raise ValueError(f"{where}: unknown class folder {label!r}; expected one of {list(class_names)}")


def find_image(folder: Path, stem: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        for e in (ext, ext.upper()):
            if (folder / f"{stem}{e}").is_file():
                return folder / f"{stem}{e}"
    return None
