"""Readers, contour rasterisation and decoding, on the real-format samples and small generated folders."""

from __future__ import annotations

from collections import Counter

import numpy as np

from cervix import data as D
from cervix.core.labels import SIPAKMED_CLASSES


def test_labelmap_reader_real_sipakmed(real_samples):
    recs = D.read_dataset(real_samples / "sipakmed", "labelmap")
    assert len(recs) == 15
    assert Counter(r.label for r in recs) == {c: 3 for c in SIPAKMED_CLASSES}
    assert D.class_names_of(recs) == list(SIPAKMED_CLASSES)
    for r in recs:
        s = r.load()
        assert s.image.shape == (256, 256, 3)
        assert s.nucleus.any() and s.cytoplasm.sum() > s.nucleus.sum()
        assert not np.any((s.nucleus > 0) & (s.cytoplasm == 0)), r.path  # nucleus inside the cell
    g3 = D.read_dataset(real_samples / "sipakmed", "labelmap", grouping="3")
    assert D.class_names_of(g3) == ["normal", "benign", "abnormal"]
    assert Counter(r.label for r in g3) == {"normal": 6, "benign": 3, "abnormal": 6}
    # thresholds are parameters: a higher nucleus threshold gives no nucleus
    s = D.read_dataset(real_samples / "sipakmed", "labelmap", nucleus_threshold=250)[0].load()
    assert not s.nucleus.any()
