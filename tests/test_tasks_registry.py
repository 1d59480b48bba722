"""The task registry: intermediate tasks, fine-tuning tasks and evaluation targets, each declared once."""

import pytest

from stages.xlt.languages import XQUAD_LANGUAGES
from stages.xlt.tasks.family import model_family
from stages.xlt.tasks.protocol import PROTOCOLS, protocol
from stages.xlt.tasks.registry import (FINETUNE, INTERMEDIATE, TARGETS, UNAVAILABLE, available, finetune_task,
                                       intermediate_task, target)

ROLES = {"intermediate": INTERMEDIATE, "finetune": FINETUNE, "target": TARGETS}
# X-STILTs' intermediate tasks that are openly available (the ninth, CCG, is not).
XSTILTS = {"squad", "mnli", "anli", "qqp", "sst2", "hellaswag", "commonsenseqa", "cosmosqa"}


def test_offline_profiles_have_a_real_multi_task_arm():
    offline = {name for name, spec in INTERMEDIATE.items() if available(spec, "offline")}
    assert {"squad", "qnli", "sentence_choice", "nli", "paraphrase"} <= offline
    families = {INTERMEDIATE[name].family for name in offline}
    assert {"qa", "classification", "multiple_choice"} <= families  # every trainable family has an offline task
    assert intermediate_task("qnli").num_labels == 2 and intermediate_task("qnli").family == "classification"
    # TyDiQA's English training set and the tagging sets exist on the Hub only (the mirror has neither).
    assert {name for name, spec in FINETUNE.items() if not available(spec, "offline")} == {"tydiqa", "udpos", "panx"}
    assert {name for name, spec in TARGETS.items() if available(spec, "offline")} >= {"xquad", "mlqa", "xnli",
                                                                                      "pawsx", "tatoeba"}


def test_paper_profile_declares_the_xstilts_tasks_and_flags_ccg():
    assert XSTILTS == {name for name, spec in INTERMEDIATE.items() if available(spec, "hub")}
    assert "ccg" not in INTERMEDIATE and "LDC" in UNAVAILABLE["ccg"]
    with pytest.raises(ValueError, match="not available.*LDC"):
        intermediate_task("ccg")
    assert {"xquad", "mlqa", "tydiqa", "xnli", "pawsx", "tatoeba", "bucc", "udpos", "panx"} == set(TARGETS)
    assert all(available(spec, "hub") for spec in list(FINETUNE.values()) + list(TARGETS.values()))


def test_targets_are_predicted_by_a_fine_tuning_task_of_their_family():
    assert target("xquad").languages == XQUAD_LANGUAGES
    for name, spec in TARGETS.items():
        if spec.family == "retrieval":  # the intermediate encoder itself, without fine-tuning (XTREME)
            assert spec.model is None, name
            continue
        assert spec.model in FINETUNE, name
        assert FINETUNE[spec.model].family == spec.family, name
        assert FINETUNE[spec.model].num_labels == spec.num_labels, name
        assert "en" in spec.languages, name  # zero-shot transfer is measured against English
    assert {target(t).model for t in ("xquad", "mlqa")} == {"qa"}  # SQuAD-trained, as XTREME
    assert target("tydiqa").model == "tydiqa"  # its own English train set (jiant's tydiqa_en)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_specs_are_consistent(role):
    for name, spec in ROLES[role].items():
        assert spec.name == name
        assert spec.family in PROTOCOLS and spec.protocol is protocol(spec.family), name
        assert spec.offline or spec.hub, name
        if spec.hub:
            loader, _, split = spec.hub.partition(":")
            assert loader and split, name
        if spec.family == "classification":
            assert spec.num_labels and len(spec.label_names) in (0, spec.num_labels), name
        if role != "target":  # trained: a family with a head, loss and decoder
            assert model_family(spec.family).name == spec.family and spec.protocol.trainable, name
        assert spec.kind in ("qa", "pair", "sentence", "words"), name  # words: no perturbation family edits them
        if spec.family == "tagging":
            assert spec.num_labels == len(spec.label_names), name


def test_kind_says_what_a_perturbation_edits():
    assert target("xquad").kind == "qa" and target("xnli").kind == "pair" and target("tatoeba").kind == "sentence"
    assert intermediate_task("sentence_choice").kind == "pair"


def test_typo_lists_known_names():
    with pytest.raises(ValueError, match="sentence_choice"):
        intermediate_task("sentense_choice")
    with pytest.raises(ValueError, match="'qa'"):
        finetune_task("squad")  # SQuAD is the QA model's training data, not a fine-tuning task's name
    with pytest.raises(ValueError, match="xquad"):
        target("xquadd")
    with pytest.raises(ValueError, match="retrieval"):
        model_family("retrieval")  # no head and no training: it pools hidden states


def test_registry_imports_nothing_heavy():
    import subprocess
    import sys

    code = ("import sys; import stages.xlt.tasks.registry; "
            "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", "params validation reads the registry: it must stay cheap to import"


def test_each_family_declares_its_protocol():
    """The metric, the English test items, the perturbation kind and the attackable fields come from the family's
    protocol: the targets of one family agree, and what the stages ask of them matches the data they hold."""
    assert protocol("qa").metric == "f1" and protocol("qa").english_test and protocol("qa").attackable
    assert protocol("classification").metric == "accuracy" and protocol("classification").attackable
    assert not protocol("retrieval").attackable and not protocol("retrieval").trainable
    assert not protocol("multiple_choice").attackable  # no target of the family: nothing to attack
    for spec in TARGETS.values():
        assert spec.kind == spec.protocol.input_kind
    assert protocol("tagging").trainable and not protocol("tagging").attackable
    with pytest.raises(ValueError, match="families are"):
        protocol("parsing")  # declared nowhere: no target may name it
