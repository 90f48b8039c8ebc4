"""Running the Starknet OS (SNOS) over a block range and reading back what it produced.

The orchestrator does not execute Cairo itself: an operator-supplied command
(a real SNOS / prover-runner binary) writes a Cairo PIE zip, and the pipeline
reads the program output, step count and fact from that PIE. The devnet has
its own runner (``orchestrator_pipelines.devnet.snos_runner``) with the same
interface, :class:`SnosRunner`.
"""

from __future__ import annotations

import shlex
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError, TransientError
from orchestrator_pipelines.starknet.cairo_pie import CairoPie
from orchestrator_pipelines.starknet.facts import pie_fact, pie_program_hash

PLACEHOLDERS = ("first_block", "last_block", "rpc_url", "layout", "output")


@dataclass(frozen=True)
class SnosResult:
    """What one SNOS run produced: the PIE on disk and what the proof pipeline needs from it."""

    pie_path: Path
    program_output: list[int]
    fact: bytes
    n_steps: int
    program_hash: int


class SnosRunner(Protocol):
    def run(self, first_block: int, last_block: int, out_dir: Path) -> SnosResult:
        """Run the OS over blocks ``first_block..last_block`` (inclusive); write the PIE under ``out_dir``."""
        ...


def snos_result_from_pie(pie_path: Path, max_bytes: int | None = None) -> SnosResult:
    """Read a Cairo PIE zip and compute its program output, steps, program hash and SHARP fact.

    The program hash costs one Pedersen hash per bytecode word (seconds for a real
    SNOS program), so it is computed once and reused for the fact. ``max_bytes``
    caps what the zip may inflate to (see ``CairoPie.from_zip``).
    """
    pie_path = Path(pie_path)
    pie = CairoPie.from_zip(pie_path, max_bytes=max_bytes)
    program_hash = pie_program_hash(pie)
    return SnosResult(
        pie_path=pie_path,
        program_output=list(pie.output),
        fact=pie_fact(pie, program_hash),
        n_steps=pie.n_steps,
        program_hash=program_hash,
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output on stderr)"


class ExternalSnosRunner:
    """Runs an operator's command template, e.g.
    ``prover-runner --rpc {rpc_url} --blocks {first_block}-{last_block} --pie {output}``.

    The template is split like a shell line first and the placeholders are
    filled in per argument, so paths with spaces survive and nothing is
    interpreted by a shell. The command must write a Cairo PIE zip at
    ``{output}`` (``out_dir/pie_<first>_<last>.zip``).
    """

    def __init__(
        self,
        command: str,
        timeout_s: float = 3600.0,
        rpc_url: str = "",
        layout: str = "all_cairo",
        max_pie_bytes: int | None = None,
    ):
        self.max_pie_bytes = max_pie_bytes
        try:
            self.argv_template = shlex.split(command)
        except ValueError as exc:
            raise InvalidInputError(f"SNOS command template is not a valid command line: {exc}") from None
        if not self.argv_template:
            raise InvalidInputError("SNOS command template is empty")
        if not any("{output}" in arg for arg in self.argv_template):
            raise InvalidInputError("SNOS command template must contain {output} (where the PIE zip is written)")
        self.timeout_s = timeout_s
        self.rpc_url = rpc_url
        self.layout = layout

    def argv(self, first_block: int, last_block: int, output: Path) -> list[str]:
        values = {"first_block": first_block, "last_block": last_block, "rpc_url": self.rpc_url, "layout": self.layout,
                  "output": str(output)}
        try:
            return [arg.format(**values) for arg in self.argv_template]
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidInputError(
                f"SNOS command template has an unknown placeholder {exc}; allowed: "
                + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            ) from None

    def run(self, first_block: int, last_block: int, out_dir: Path) -> SnosResult:
        if first_block > last_block:
            raise InvalidInputError(f"SNOS block range is empty: {first_block}..{last_block}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        output = out_dir / f"pie_{first_block}_{last_block}.zip"
        output.unlink(missing_ok=True)
        argv = self.argv(first_block, last_block, output)
        where = f"blocks {first_block}..{last_block}"
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout_s, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise OrchestratorError(f"SNOS command not found: {argv[0]!r} ({where})") from None
        except subprocess.TimeoutExpired:
            raise TransientError(f"SNOS command timed out after {self.timeout_s:g}s ({where}): {argv[0]}") from None
        if done.returncode != 0:
            raise OrchestratorError(
                f"SNOS command exited with code {done.returncode} ({where}): {_last_line(done.stderr)}"
            )
        if not output.is_file() or output.stat().st_size == 0:
            raise OrchestratorError(f"SNOS command succeeded but wrote no Cairo PIE at {output} ({where})")
        try:
            return snos_result_from_pie(output, self.max_pie_bytes)
        except OrchestratorError as exc:
            raise InvalidInputError(f"SNOS command wrote an invalid Cairo PIE at {output} ({where}): {exc}") from None
        except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
            raise InvalidInputError(
                f"SNOS command wrote an invalid Cairo PIE at {output} ({where}): {type(exc).__name__}: {exc}"
            ) from None
