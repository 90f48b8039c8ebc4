"""The anvil launcher: readiness, block time, dev accounts, clean stop, a clear error without anvil."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from eth_account import Account

from orchestrator_pipelines.devnet.anvil import DEV_ACCOUNTS, AnvilProcess
from orchestrator_pipelines.errors import OrchestratorError


def test_dev_accounts_are_anvil_funded_keys(tmp_path: Path) -> None:
    with AnvilProcess(chain_id=4242, log_file=tmp_path / "anvil.log") as anvil:
        assert int(str(anvil.rpc("eth_chainId")), 16) == 4242
        for account in DEV_ACCOUNTS:
            assert Account.from_key(account.private_key).address == account.address
            assert int(str(anvil.rpc("eth_getBalance", account.address, "latest")), 16) >= 10**21
        url = anvil.url
    assert not anvil.running
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=2)
    assert (tmp_path / "anvil.log").stat().st_size > 0


def test_block_time_mines_without_transactions() -> None:
    with AnvilProcess(block_time_s=0.5) as anvil:
        deadline = time.monotonic() + 10
        while int(str(anvil.rpc("eth_blockNumber")), 16) < 2:
            assert time.monotonic() < deadline, "anvil did not mine two blocks in 10 s"
            time.sleep(0.1)


def test_blob_fork_rules_are_active() -> None:
    """Blob gas fields exist only from Cancun on; the launcher asks for Osaka (mainnet since Fusaka)."""
    with AnvilProcess() as anvil:
        block = anvil.rpc("eth_getBlockByNumber", "latest", False)
        assert isinstance(block, dict) and "excessBlobGas" in block and "requestsHash" in block


def test_missing_anvil_is_one_readable_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORCHESTRATOR_ANVIL_BIN", str(tmp_path / "no-anvil"))
    with pytest.raises(OrchestratorError, match=r"anvil not found at .*no-anvil; run the README's setup") as info:
        AnvilProcess().start()
    assert "\n" not in str(info.value)
