"""The pipeline: one module per DVC stage (python -m stages.<name>), the params schema, and the library (xlt)."""
