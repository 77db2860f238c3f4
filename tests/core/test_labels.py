"""One class order everywhere: biological (normal -> abnormal), not alphabetical."""

from __future__ import annotations

from cervix.core.labels import HERLEV_CLASSES, SIPAKMED_CLASSES, class_order


def test_sipakmed_classes_keep_their_biological_order():
    assert class_order(sorted(SIPAKMED_CLASSES)) == list(SIPAKMED_CLASSES)
    assert class_order(["dyskeratotic", "parabasal"]) == ["parabasal", "dyskeratotic"]


def test_herlev_folder_names_keep_their_order():
    assert class_order(sorted(HERLEV_CLASSES)) == list(HERLEV_CLASSES)
    assert class_order(["carcinoma_in_situ", "normal_columnar"]) == ["normal_columnar", "carcinoma_in_situ"]


def test_grouped_names_and_unknown_names():
    assert class_order(["abnormal", "normal", "benign"]) == ["normal", "benign", "abnormal"]
    assert class_order(["zeta", "alpha", "parabasal"]) == ["alpha", "parabasal", "zeta"]  # mixed: sorted
    assert class_order([]) == []
    # two spellings of one class: a stable order, not the set's
    assert class_order(["parabasal", "im_Parabasal", "superficial-intermediate"]) == [
        "superficial-intermediate",
        "im_Parabasal",
        "parabasal",
    ]


def test_class_names_of_predictions_reads_prob_columns_in_order():
    import pandas as pd

    from cervix.core.labels import class_names_of_predictions

    df = pd.DataFrame(
        [[0, "a.png", 0.7, 0.2, 0.1, 0.6, 0.3, 0.1, 1.0]],
        columns=[
            "path", "true", "prob_parabasal", "prob_superficial-intermediate", "prob_metaplastic",
            "prob_cal_parabasal", "prob_cal_superficial-intermediate", "prob_cal_metaplastic", "probability",
        ],
    )  # fmt: skip
    assert class_names_of_predictions(df) == ["parabasal", "superficial-intermediate", "metaplastic"]
    assert class_names_of_predictions(df[["path", "prob_cal_metaplastic"]]) == []
    assert class_names_of_predictions(pd.DataFrame(columns=["prob_normal", "prob_abnormal"])) == ["normal", "abnormal"]
