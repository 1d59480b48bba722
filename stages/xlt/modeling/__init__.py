"""The encoder as two halves: a frozen bottom whose outputs can be cached and shared, and a trained top with task
heads (``layers``: the split forward; ``prefix``: cached bottom states on disk; ``multitask``: encoder + heads)."""
