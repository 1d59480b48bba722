import pytest

from stages.xlt.languages import XQUAD_LANGUAGES
from stages.xlt.tasks.registry import PROFILES, get_task, task_names

FAMILY_METRICS = {"qa": {"em_f1"}, "classification": {"accuracy"}, "multiple_choice": {"accuracy"},
                  "retrieval": {"retrieval_accuracy"}, "tagging": {"f1", "accuracy"}}


def test_small_profile_is_offline_with_a_real_multi_task_arm():
    intermediate = task_names("small", role="intermediate")
    assert {"squad", "qnli", "sentence_choice"} <= set(intermediate)
    assert all(get_task(n).offline for n in PROFILES["small"])
    assert get_task("qnli").derived and get_task("qnli").num_labels == 2
    assert get_task("xquad").languages == XQUAD_LANGUAGES
    assert set(task_names("small", role="target")) == {"squad", "xquad", "tatoeba"}
    assert get_task("qnli", "tiny") == get_task("qnli", "small")


def test_paper_profile_declares_all_tasks_and_flags_ccg():
    names = set(PROFILES["paper"])
    assert {"squad", "mnli", "hellaswag", "anli", "commonsenseqa", "cosmosqa", "qqp", "sst2", "ccg", "xquad", "mlqa",
            "tydiqa", "xnli", "pawsx", "tatoeba", "bucc", "panx", "udpos"} == names
    ccg = get_task("ccg", "paper")
    assert ccg.source == "unavailable" and not ccg.implemented and "LDC" in ccg.notes


def test_paper_intermediate_tasks_match_the_params_list():
    from stages.xlt.params import HUB_INTERMEDIATE_TASKS, OFFLINE_INTERMEDIATE_TASKS

    assert all(get_task(name, "paper").role in ("intermediate", "both") for name in HUB_INTERMEDIATE_TASKS)
    assert all(get_task(name, "small").role in ("intermediate", "both") for name in OFFLINE_INTERMEDIATE_TASKS)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_specs_are_consistent(profile):
    for name, spec in PROFILES[profile].items():
        assert spec.name == name
        assert spec.metric in FAMILY_METRICS[spec.family], name
        if spec.family == "classification":
            assert spec.num_labels and len(spec.label_names) in (0, spec.num_labels), name
        if spec.source == "hub":
            assert spec.hub_id, name


def test_typo_lists_known_names():
    with pytest.raises(ValueError, match="sentence_choice"):
        get_task("sentense_choice")
    with pytest.raises(ValueError, match="paper"):
        get_task("squad", profile="big")
