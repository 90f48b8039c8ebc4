"""A sensor tick refused because a peer reports another chain: one skip reason, one alert, nothing requested.

Why: the node and L1 resources refuse to hand out a client for another chain
(:class:`ChainIdMismatchError`, :mod:`orchestrator_pipelines.peer_identity`).
Left alone, that error would fail every tick with a traceback in the daemon's
log and no alert. :func:`refusing_other_chains` turns it into the tick's skip
reason (the line naming URL, expected and got) and one alert per distinct
problem, remembered in the cursor; the cursor the sensor had is kept, so the
tick after the peer heals goes on from where it stopped.
"""

from __future__ import annotations

from typing import Callable

from dagster import SensorEvaluationContext, SensorResult, SkipReason

from orchestrator_pipelines.clients.alerts import Alert
from orchestrator_pipelines.peer_identity import ChainIdMismatchError
from sensors.cursor import dump_cursor, load_cursor

ALERTED = "other_chain_alerted"


def refusing_other_chains(
    context: SensorEvaluationContext, alerts, sensor: str, tick: Callable[[], SensorResult | SkipReason]
) -> SensorResult:
    """``tick()`` of ``sensor``, unless a peer reports another chain: then skip with the reason and alert once."""
    try:
        result = tick()
    except ChainIdMismatchError as exc:
        cursor = load_cursor(context.cursor)
        reason = str(exc)
        if cursor.get(ALERTED) != reason:
            alerts.sink(context.log).send(Alert(
                title=f"{sensor} stopped: a peer reports another chain",
                text=f"{reason}; fix the URL or the configured chain id, then the sensor resumes by itself",
                severity="critical",
                fields={"sensor": sensor},
            ))
            cursor[ALERTED] = reason
        return SensorResult(skip_reason=SkipReason(reason), cursor=dump_cursor(cursor))
    if isinstance(result, SkipReason):
        result = SensorResult(skip_reason=result)
    previous = load_cursor(result.cursor if result.cursor is not None else context.cursor)
    if previous.pop(ALERTED, None) is not None:  # healed: the next mismatch is news again
        return result._replace(cursor=dump_cursor(previous))
    return result
