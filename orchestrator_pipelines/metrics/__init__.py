"""Prometheus metrics of the settlement pipeline: definitions and the Dagster-event exporter."""
