"""Zip bombs as PIEs: refused before they are inflated, with bounded memory, in one line.

The bomb is a real PIE (the Fibonacci vector) whose ``memory.bin`` is 300 MB
of zeros, deflated to a few hundred KB. ``tracemalloc`` measures the peak of
what Python allocated while the PIE was read and refused.
"""

from __future__ import annotations

import struct
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.cairo_pie import MEMBERS, CairoPie

BOMB_BYTES = 300 * 1024**2
CAP = 64 * 1024**2
CHUNK = b"\0" * (1 << 20)


@pytest.fixture(scope="module")
def bomb(vectors_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    with zipfile.ZipFile(vectors_dir / "cairo_pie" / "fibonacci.zip") as real, zipfile.ZipFile(path, "w") as out:
        by_base = {i.filename.rsplit("/", 1)[-1]: i for i in real.infolist()}
        for member in MEMBERS:
            if member != "memory.bin":
                out.writestr(member, real.read(by_base[member]), compress_type=zipfile.ZIP_DEFLATED)
                continue
            info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with out.open(info, "w") as stream:
                for _ in range(BOMB_BYTES // len(CHUNK)):
                    stream.write(CHUNK)
    return path


def _declare(path: Path, member: str, size: int, out: Path) -> Path:
    """A copy of the zip whose headers (local and central) declare ``size`` for ``member``."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    struct.pack_into("<I", data, info.header_offset + 22, size)  # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, central + 24, size)  # central directory: uncompressed size
        central = data.find(b"PK\x01\x02", central + 4)
    out.write_bytes(bytes(data))
    return out


def _refusal(path: Path) -> tuple[str, int]:
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInputError) as info:
            CairoPie.from_zip(path, max_bytes=CAP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return str(info.value), peak


def test_the_bomb_is_small_on_disk_and_declares_its_size(bomb: Path) -> None:
    assert bomb.stat().st_size < 2 * 1024**2
    with zipfile.ZipFile(bomb) as archive:
        assert archive.getinfo("memory.bin").file_size == BOMB_BYTES


def test_a_member_declaring_more_than_the_cap_is_refused_without_inflating(bomb: Path) -> None:
    message, peak = _refusal(bomb)
    assert message == (
        f"{bomb}: memory.bin declares {BOMB_BYTES} bytes uncompressed, more than the {CAP} allowed for a PIE; "
        "not inflating"
    )
    assert peak < 4 * 1024**2, f"peak {peak} bytes while refusing"


@pytest.mark.parametrize("declared", [1000, CAP // 2])
def test_a_member_lying_about_its_size_is_refused_with_memory_bounded_by_the_cap(
    bomb: Path, tmp_path: Path, declared: int
) -> None:
    liar = _declare(bomb, "memory.bin", declared, tmp_path / "liar.zip")
    with zipfile.ZipFile(liar) as archive:
        assert archive.getinfo("memory.bin").file_size == declared
    message, peak = _refusal(liar)
    assert message.startswith(f"{liar}: ") and "memory.bin" in message and "\n" not in message, message
    assert peak < CAP + 8 * 1024**2 < BOMB_BYTES // 4, f"peak {peak} bytes while refusing"


def test_the_snos_runner_reads_its_pie_under_the_configured_cap(bomb: Path) -> None:
    from orchestrator_pipelines.clients.snos import snos_result_from_pie
    from orchestrator_pipelines.config import load_settings
    from resources.snos import SnosRunnerResource

    settings = load_settings({"ORCHESTRATOR_MAX_PIE_BYTES": str(CAP)})
    assert settings.max_pie_bytes == CAP
    resource = SnosRunnerResource(kind="external", command="true {output}", max_pie_bytes=settings.max_pie_bytes)
    assert resource.runner().max_pie_bytes == CAP
    with pytest.raises(InvalidInputError, match="memory.bin declares .* not inflating"):
        snos_result_from_pie(bomb, CAP)
