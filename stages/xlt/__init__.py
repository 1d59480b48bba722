"""xlt: the library behind the pipeline's stages.

Nothing in here knows about DVC: functions take paths, examples and plain values, and return results.
The stage modules in ``stages/`` read params.yaml, call this library and write outputs.
"""
