"""Error types shared by the domain core.

Every error the domain raises on bad input is an :class:`OrchestratorError` whose
message is one readable line saying what is wrong and where. The CLI prints it
as-is; Dagster ops let it fail the step without a retry (it is deterministic).
"""


class OrchestratorError(Exception):
    """Base class: a deterministic failure caused by bad input or state."""


class InvalidInputError(OrchestratorError, ValueError):
    """Input data (JSON, hex, zip, config) is malformed; the message names the field."""


class TooManyBlobsError(OrchestratorError):
    """A batch's DA data needs more blobs than allowed: close the batch earlier."""

    def __init__(self, needed: int, maximum: int):
        self.needed = needed
        self.maximum = maximum
        super().__init__(
            f"DA data needs {needed} blobs but at most {maximum} are allowed per batch; "
            f"close the batch with fewer blocks"
        )


class TransientError(Exception):
    """A failure worth retrying (timeout, connection reset, HTTP 5xx, node not synced yet)."""
