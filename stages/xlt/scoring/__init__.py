"""Scoring: per-example metrics, coverage-aware cluster-bootstrap statistics, tables, plots and the report."""
