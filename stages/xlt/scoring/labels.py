"""The row labels every scoring table and output shares, beside the languages' own codes."""

AVERAGE = "avg"  # a language average (over the applicable languages of a task's average set)
POOLED = "pooled"  # the attack rows pooled over the languages whose typo model may be pooled
