import numpy as np
import pytest

from stages.xlt.training.sampler import TaskSampler, task_probabilities

SIZES = {"squad": 8000, "mnli": 2000, "qnli": 500}


def test_probabilities_by_kind():
    assert task_probabilities(SIZES, "uniform") == pytest.approx({k: 1 / 3 for k in SIZES})
    assert task_probabilities(SIZES, "proportional") == pytest.approx(
        {"squad": 8000 / 10500, "mnli": 2000 / 10500, "qnli": 500 / 10500})
    temp = task_probabilities(SIZES, "temperature", temperature=2.0)
    roots = {k: v ** 0.5 for k, v in SIZES.items()}
    assert temp == pytest.approx({k: r / sum(roots.values()) for k, r in roots.items()})
    assert task_probabilities(SIZES, "temperature", temperature=1.0) == pytest.approx(
        task_probabilities(SIZES, "proportional"))


def test_cap_limits_large_tasks():
    capped = task_probabilities(SIZES, "proportional", cap=1000)
    assert capped == pytest.approx({"squad": 1000 / 2500, "mnli": 1000 / 2500, "qnli": 500 / 2500})


@pytest.mark.parametrize(("sizes", "kwargs", "message"), [
    (SIZES, dict(kind="bogus"), r"unknown sampler kind 'bogus'; choose one of"),
    (SIZES, dict(kind="temperature", temperature=0), r"temperature must be > 0, got 0"),
    (SIZES, dict(kind="temperature", temperature=-1.5), r"temperature must be > 0, got -1.5"),
    (SIZES, dict(kind="uniform", cap=0), r"cap must be >= 1 or None, got 0"),
    ({"a": 0}, dict(kind="uniform"), r"task sizes must be positive integers, got \{'a': 0\}"),
    ({"a": 2.5}, dict(kind="uniform"), r"task sizes must be positive integers, got \{'a': 2.5\}"),
    ({}, dict(kind="uniform"), r"no tasks given to the sampler"),
], ids=["kind", "temperature-0", "temperature-negative", "cap-0", "size-0", "size-float", "no-tasks"])
def test_bad_configuration_raises_naming_what_is_wrong(sizes, kwargs, message):
    with pytest.raises(ValueError, match=message):
        task_probabilities(sizes, **kwargs)


def test_bad_schedule_length_raises():
    with pytest.raises(ValueError, match=r"n_steps must be >= 0, got -1"):
        TaskSampler(SIZES, "uniform", seed=0).schedule(-1)


def test_empirical_frequencies_match_chi_square():
    sampler = TaskSampler(SIZES, "temperature", temperature=2.0, seed=11)
    n = 20_000
    draws = sampler.schedule(n)
    observed = np.array([draws.count(k) for k in SIZES])
    expected = np.array([sampler.probabilities[k] * n for k in SIZES])
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 13.8  # chi-square, 2 degrees of freedom, p = 0.001


def test_seeded_determinism():
    a = TaskSampler(SIZES, "uniform", seed=3)
    b = TaskSampler(SIZES, "uniform", seed=3)
    assert a.schedule(50) == b.schedule(50) and a.sample() == b.sample()
    assert TaskSampler(SIZES, "uniform", seed=3).schedule(50) != TaskSampler(SIZES, "uniform", seed=4).schedule(50)
