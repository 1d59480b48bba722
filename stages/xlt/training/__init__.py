"""Training: the loop, multi-task sampling, length-grouped batches, checkpoints, data parallelism."""
