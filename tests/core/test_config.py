"""Tests for cervix.core.config: profile selection, profile settings, JSON round-trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cervix.core.config import (
    CellConfig,
    ClsConfig,
    Profile,
    SegConfig,
    TrainConfig,
    from_dict,
    get_profile,
    profile_names,
    to_dict,
)


def test_default_profile_is_cpu(monkeypatch):
    monkeypatch.delenv("CERVIX_PROFILE", raising=False)
    assert get_profile().name == "cpu"


def test_env_var_picks_profile(monkeypatch):
    monkeypatch.setenv("CERVIX_PROFILE", "smoke")
    assert get_profile().name == "smoke"
    assert get_profile("paper").name == "paper"  # an explicit name wins over the env var


def test_unknown_profile_rejected_with_choices(monkeypatch):
    with pytest.raises(ValueError, match="smoke.*cpu.*paper"):
        get_profile("gpu-huge")
    monkeypatch.setenv("CERVIX_PROFILE", "nope")
    with pytest.raises(ValueError, match="nope"):
        get_profile()


def test_profiles_follow_spec():
    assert profile_names() == ["smoke", "cpu", "paper"]
    paper = get_profile("paper")
    assert (paper.seg.encoder, paper.seg.image_size, paper.seg.epochs, paper.seg.batch_size, paper.seg.lr) == (
        "convnext_tiny",
        1024,
        100,
        8,
        1e-4,
    )
    assert (paper.cls.encoder, paper.cls.image_size, paper.cls.epochs, paper.cls.batch_size, paper.cls.lr) == (
        "convnext_tiny",
        256,
        50,
        16,
        1e-4,
    )
    cpu = get_profile("cpu")
    assert (cpu.seg.encoder, cpu.seg.image_size, cpu.cls.image_size) == ("convnext_atto", 256, 128)
    assert cpu.seg.amp == cpu.cls.amp == cpu.cells.amp == "none"  # float32: bf16 is emulated without AVX512-BF16
    assert paper.seg.amp == paper.cls.amp == "bf16"
    # the cpu cell head reads its 256 px window at 128 px: a few minutes of `make run`
    assert (cpu.cells.window, cpu.cells.image_size) == (256, 128) and cpu.cells.epochs > 0
    assert CellConfig().image_size == 256  # the default (and real-ISBI) input: the window's own side
    with pytest.raises(ValueError, match="multiple of 32"):
        CellConfig(image_size=100)
    assert cpu.synth["clumping"] == paper.synth["clumping"] == 0.5  # cells covered like ISBI 2014's (median 31% vs 28%)
    smoke = get_profile("smoke")
    assert 0 < smoke.cells.epochs <= 3 and smoke.cells.image_size <= 64
    assert smoke.seg.encoder == "convnext_atto" and 64 <= smoke.seg.image_size <= 128
    assert smoke.seg.epochs <= 10 and smoke.synth["n_fields"] <= 10
    for p in (paper, cpu, smoke):
        assert p.seg.image_size % 32 == 0 and p.seg.tile % 32 == 0
        assert p.seg.pretrained is False and p.cls.pretrained is False
        assert p.cls.label_smoothing == 0.0 and p.seg.thresholds == (0.5, 0.5)
        assert set(p.synth) - {"clumping"} == {"seed", "n_fields", "n_crops", "size", "field_size", "difficulty"}


def test_profiles_are_independent_copies():
    a = get_profile("cpu")
    a.seg.epochs = 999
    assert get_profile("cpu").seg.epochs != 999


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_json_round_trip(name):
    p = get_profile(name)
    d = json.loads(json.dumps(to_dict(p)))
    q = from_dict(Profile, d)
    assert q == p
    assert isinstance(q.seg.thresholds, tuple) and isinstance(q.seg.decoder_channels, tuple)
    s = from_dict(SegConfig, json.loads(json.dumps(to_dict(p.seg))))
    assert s == p.seg


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="bogus"):
        from_dict(ClsConfig, {"bogus": 1})
    assert from_dict(ClsConfig, {"bogus": 1, "epochs": 3}, strict=False).epochs == 3


def test_every_field_has_a_comment():
    import inspect

    import cervix.core.config as m

    src = inspect.getsource(m)
    for cls in (SegConfig, ClsConfig, Profile):
        for f in dataclasses.fields(cls):
            line = next(ln for ln in src.splitlines() if ln.strip().startswith(f"{f.name}:"))
            assert "#" in line, f"{cls.__name__}.{f.name} lacks a comment"


def test_floor_shortfalls_lists_the_missed_floors():
    from cervix.core.config import Profile, floor_shortfalls

    p = Profile(name="x", floors={"dice_nucleus": 0.8, "accuracy": 0.75})
    assert floor_shortfalls(p, {"dice_nucleus": 0.81, "accuracy": 0.9}) == []
    assert floor_shortfalls(p, {"dice_nucleus": 0.79}) == ["dice_nucleus 0.79 < 0.8"]  # accuracy not given
    assert floor_shortfalls(p, {"dice_nucleus": float("nan"), "accuracy": None}) == [
        "dice_nucleus nan < 0.8",
        "accuracy None < 0.75",
    ]
    assert floor_shortfalls("smoke", {"dice_nucleus": 0.0}) == []  # no floors
    assert get_profile("cpu").floors["dice_nucleus"] == 0.8


def test_profile_banner_names_the_profile_and_its_meaning():
    from cervix.core.config import profile_banner

    assert "profile smoke" in profile_banner("smoke") and "say nothing" in profile_banner("smoke")
    assert "profile cpu" in profile_banner(get_profile("cpu")) and "10 epochs" in profile_banner("cpu")


def test_train_config_from_stage_config():
    from cervix.core.config import get_profile

    seg = get_profile("cpu").seg
    tc = TrainConfig.from_config(seg, progress=False)
    assert (tc.epochs, tc.lr, tc.monitor, tc.mode, tc.amp) == (seg.epochs, seg.lr, "val_dice", "max", "none")
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")
    with pytest.raises(TypeError, match="bogus"):
        TrainConfig.from_config(seg, bogus=1)
