"""Seed replicates (``replicate_of`` + ``train_seed``): a replicate is its row with another training seed, in
every profile, and the settings check refuses one that differs in anything else."""
from __future__ import annotations

import copy

import pytest
import yaml

from conftest import ROOT
from fashionbench.core import config, settings


@pytest.fixture(scope="module")
def params() -> dict:
    return config.load_params(ROOT / "params.yaml")


def _replicates(params: dict) -> dict[str, str]:
    return {n: r["replicate_of"] for n, r in params["methods"].items() if r.get("replicate_of")}


def test_params_have_three_seeds_on_both_arms_of_zhan_1(params):
    reps = _replicates(params)
    for origin in ("zhan-imagenet-m1", "zhan-random-m1"):
        seeds = {params["seed"]} | {params["methods"][n]["train_seed"] for n, o in reps.items() if o == origin}
        assert len(seeds) >= 3, (origin, seeds)


@pytest.mark.parametrize("profile", list(config.PROFILES))
def test_a_replicate_resolves_to_its_row_but_the_seed(params, profile):
    p = dict(params, profile=profile)
    for name, origin in _replicates(params).items():
        a, b = config.method_settings(p, name), config.method_settings(p, origin)
        for key in ("train_seed", "replicate_of", "description"):
            a.pop(key, None)
            b.pop(key, None)
        assert a == b, (name, profile)


def test_the_check_refuses_a_replicate_that_differs_in_more_than_the_seed(params):
    bad = copy.deepcopy(params)
    name = next(iter(_replicates(bad)))
    bad["methods"][name]["lr"] = 0.5
    assert any(f"methods.{name}" in line and "'lr'" in line for line in settings.problems(bad))
    same_seed = copy.deepcopy(params)
    same_seed["methods"][name]["train_seed"] = params["seed"]
    assert any("same training seed" in line for line in settings.problems(same_seed))
    unknown = copy.deepcopy(params)
    unknown["methods"][name]["replicate_of"] = "zhan-imagenet-m9"
    assert any("'zhan-imagenet-m9' is not a methods row" in line for line in settings.problems(unknown))
    assert settings.problems(params) == []


def test_train_seed_is_checked_as_declared(params):
    bad = copy.deepcopy(params)
    name = next(iter(_replicates(bad)))
    bad["methods"][name]["train_seed"] = -1
    assert any(f"methods.{name}" in line and "train_seed" in line for line in settings.problems(bad))


def test_a_replicate_moves_the_loss_sampling_seed_too():
    from fashionbench.pipeline.train import _loss_seeded

    zhan = {"loss": {"loss": "zhan_triplet", "margin": 1.0, "seed": 3}, "train_seed": 2}
    assert _loss_seeded(zhan, 2)["loss"]["seed"] == 5
    assert _loss_seeded({**zhan, "train_seed": None}, 0) == {**zhan, "train_seed": None}   # not a replicate
    ce = {"loss": {"loss": "ce"}, "train_seed": 2}
    assert _loss_seeded(ce, 2) == ce                                  # a loss without a seed of its own
