"""The triggers: new blocks close batches, finished proofs are recorded, settlement advances in order.

Each sensor keeps a small JSON cursor and does bounded work per tick (a page of
events, the in-flight batches, one chain read), so a tick stays fast at
100,000 batches. Factories take the interval and default status, which depend
on the deployment profile.
"""

from sensors.batching import build_batching_sensor
from sensors.proofs import build_proof_sensor
from sensors.run_failure import build_run_failure_alert_sensor
from sensors.settlement import build_settlement_sensor

__all__ = [
    "build_batching_sensor",
    "build_proof_sensor",
    "build_run_failure_alert_sensor",
    "build_settlement_sensor",
]
