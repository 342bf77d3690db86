"""Config: defaults < YAML < dotted overrides, with type checking against the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eventar.errors import ConfigError
from eventar.train.config import DEFAULTS, load_config, parse_override, resolve, save_config

REPO = Path(__file__).resolve().parents[2]


def test_overrides_apply_on_top_of_the_yaml(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("seed: 4\ntrain:\n  epochs: 7\n  lr: 0.01\n")
    cfg = load_config(f, ["train.lr=5e-4", "train.epochs=9", "model.args.dim=32", "data.args={n_per_class: 5}"])
    assert cfg["seed"] == 4
    assert cfg["train"]["epochs"] == 9
    assert cfg["train"]["lr"] == 5e-4 and isinstance(cfg["train"]["lr"], float)
    assert cfg["model"]["args"] == {"dim": 32}
    assert cfg["data"]["args"] == {"n_per_class": 5}
    assert cfg["train"]["batch_size"] == DEFAULTS["train"]["batch_size"]  # untouched default
    assert DEFAULTS["model"]["args"] == {}  # defaults are never mutated


def test_int_is_accepted_for_a_float_and_strings_keep_their_text():
    cfg = resolve({}, ["train.lr=1", "train.progress=never", "name=2024"])
    assert cfg["train"]["lr"] == 1.0 and isinstance(cfg["train"]["lr"], float)
    assert cfg["train"]["progress"] == "never"
    assert cfg["name"] == 2024 or cfg["name"] == "2024"  # name has a None default: any value


@pytest.mark.parametrize(
    "override,match",
    [
        ("train.epochs=two", "'train.epochs' expects int"),
        ("train.epochs=2.5", "'train.epochs' expects int"),
        ("train.amp=1", "'train.amp' expects bool"),
        ("train.lr=fast", "'train.lr' expects float"),
        ("train.lrr=0.1", "unknown config key 'train.lrr'; did you mean train.lr"),
        ("trian.lr=0.1", "unknown config key 'trian'"),
        ("train=3", "'train' must be a mapping"),
        ("train.optimizer=lion", "'train.optimizer' must be one of"),
        ("train.epochs=0", "'train.epochs' must be >= 1"),
        ("train.lr=-1", "'train.lr' must be >= 0"),
        ("train.lr", "expected key.sub=value"),
        ("train.lr=[1", "not valid YAML"),
    ],
)
def test_bad_overrides_name_the_key_and_what_was_expected(override, match):
    with pytest.raises(ConfigError, match=match.replace("[", r"\[")):
        resolve({}, [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("train:\n  epochs: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "typo.yaml").write_text("train:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"typo.yaml: unknown config key 'train.epoch'"):
        load_config(tmp_path / "typo.yaml")


def test_parse_override_reads_yaml_values():
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])
    assert parse_override("a.b=null") == ("a.b", None)
    assert parse_override("a.b=x=y") == ("a.b", "x=y")


def test_saved_config_round_trips(tmp_path):
    cfg = resolve({}, ["train.epochs=3", "model.args.width=8"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["train"]["epochs"] == 3


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_yaml_resolves(path):
    cfg = load_config(path)
    assert cfg["model"]["name"]
    assert cfg["data"]["dataset"]


def test_exponent_floats_without_a_dot_are_floats(tmp_path):
    # YAML 1.1 reads 1e-3 as a string; a float key must still get 0.001
    f = tmp_path / "x.yaml"
    f.write_text("train:\n  lr: 1e-3\n  min_lr: 1e-6\n")
    cfg = load_config(f, ["train.weight_decay=5e-4"])
    assert cfg["train"]["lr"] == 1e-3 and cfg["train"]["min_lr"] == 1e-6 and cfg["train"]["weight_decay"] == 5e-4


def test_inputs_of_family_modules_are_discovered():
    from eventar.train.inputs import build_input, list_inputs

    names = list_inputs()
    assert "points" in names
    with pytest.raises(ConfigError, match="unknown input 'nope'"):
        build_input("nope")
    with pytest.raises(ConfigError, match="does not take"):
        build_input("points", window=3)


def test_prepared_sample_cache_key_follows_the_dataset_version(monkeypatch, tmp_path):
    """A regenerated SyntheticGestures (version bump) must never be served from an old cache."""
    import eventar.datasets as ds_mod
    from eventar.train.config import load_config
    from eventar.train.data import cache_path
    from eventar.train.inputs import build_input

    cfg = load_config(None, [f"data.cache_dir={tmp_path}"])
    spec = build_input("points")
    before = cache_path(cfg, "train", spec)
    monkeypatch.setattr(ds_mod.SyntheticGestures, "version", "999")
    assert cache_path(cfg, "train", spec) != before
