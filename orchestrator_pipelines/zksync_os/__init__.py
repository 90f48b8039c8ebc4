"""ZKsync OS settlement: the domain core of the second stack (never imports Dagster)."""
