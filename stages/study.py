"""This study's own words, which the report prints: its title, its research question, and what each comparison
mixes besides "intermediate tasks or not" in the offline profiles (README, "Confounds"). They are data of this
study, read by the score stage and passed to the scoring library, which knows no arm or task of any study."""

TITLE = "Robustness of zero-shot cross-lingual transfer after intermediate-task training"

QUESTION = ("Does multi-task English intermediate-task training make zero-shot cross-lingual transfer *less robust* "
            "to perturbations of the test inputs than single-task or no intermediate training?")

# (A, B) -> what the comparison A − B mixes in, offline.
OFFLINE_CONFOUNDS = {
    ("squad", "none"): "offline, the `squad` arm's intermediate data are more English XQuAD paragraphs, the same "
                       "distribution as the QA fine-tuning data: `squad` − `none` mixes 'an intermediate task' with "
                       "'more target-distribution data', and `squad` also trains for more steps (see `none_long`)",
    ("multi", "none"): "`multi` trains for intermediate + fine-tuning steps, `none` for fine-tuning steps only "
                       "(`none_long` is the compute-matched control)",
    ("multi", "squad"): "offline, `multi`'s NLI and paraphrase data are XNLI/PAWS-X English rows, the same "
                        "distribution as those targets' fine-tuning data; both arms train equally many steps",
}

# What an offline run does not show, beside what every run's report says.
OFFLINE_LIMITATIONS = [
    "Offline, the intermediate tasks are held-out English parts of the evaluation data sets (XQuAD articles, "
    "XNLI premises, PAWS-X groups, never a test item's group), not the paper's English corpora: the "
    "multi-task arm is a small proxy for the paper's mixture.",
]
