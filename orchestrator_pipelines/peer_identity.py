"""Whether a peer is the chain this deployment settles: its chain id against the configured one.

Why: a node or an L1 RPC pointed at another network (a wrong URL, a load
balancer mixing pools, a testnet endpoint in a mainnet environment file)
answers every request without an error. Nothing else notices early: blocks of
another chain would be batched and proven, or a state update signed for
another L1, and the failure would come late and far from its cause. So the
resources that hand out the node and L1 clients compare the peer's chain id
with the configured one first (``ORCHESTRATOR_MADARA_CHAIN_ID``,
``ORCHESTRATOR_L1_CHAIN_ID``) and refuse with one line naming the URL, what
was expected and what the peer said. Unset settings are not checked.

Pure functions: the resources read the chain id and call these.
"""

from __future__ import annotations

from orchestrator_pipelines.errors import OrchestratorError


class ChainIdMismatchError(OrchestratorError):
    """A peer reports another chain than the configured one: nothing is batched or settled through it."""


def starknet_chain_id_text(value: str) -> str:
    """A Starknet chain id as its short string: ``SN_SEPOLIA`` stays, ``0x534e5f5345504f4c4941`` is decoded."""
    value = value.strip()
    if value[:2].lower() != "0x":
        return value
    try:
        raw = int(value, 16)
        return raw.to_bytes((raw.bit_length() + 7) // 8, "big").decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return value


def starknet_chain_id_problem(url: str, expected: str, got: str) -> str | None:
    """One line when the node at ``url`` reports ``got`` where ``expected`` is configured; None when they agree."""
    if not expected or starknet_chain_id_text(expected) == starknet_chain_id_text(got):
        return None
    return (
        f"Madara node at {url} reports chain id {starknet_chain_id_text(got)}, expected "
        f"{starknet_chain_id_text(expected)} (ORCHESTRATOR_MADARA_CHAIN_ID): nothing is batched or settled from it"
    )


def l1_chain_id_problem(url: str, expected: int | None, got: int) -> str | None:
    """One line when the L1 RPC at ``url`` reports chain id ``got`` where ``expected`` is configured."""
    if expected is None or expected == got:
        return None
    return (
        f"Ethereum RPC at {url} reports chain id {got}, expected {expected} (ORCHESTRATOR_L1_CHAIN_ID): "
        "nothing is settled through it"
    )
