"""Cairo PIE zips: the artifact SNOS produces and the prover (Atlantic/SHARP) proves.

A PIE (Position Independent Execution) holds the program, the memory of the run with
relocatable addresses, and per-builtin data. The orchestrator needs a few things from
it: the program bytecode (for the program hash), the output builtin's segment (the OS
output that goes on chain), the output's page layout (for the fact), and the step
count (to pick the prover job size). Members of the zip:

- ``metadata.json``: ``program`` {data, builtins, main, prime}, segment table
  (``program_segment``, ``execution_segment``, ``builtin_segments``, ``ret_fp_segment``,
  ``ret_pc_segment``, ``extra_segments``), each ``{"index", "size"}``;
- ``memory.bin``: 40-byte records, an 8-byte little-endian address
  (``2**63 + segment * 2**47 + offset``) and a 32-byte little-endian value (a relocatable
  value has bit 255 set, encoded the same way);
- ``additional_data.json``: per builtin; ``output_builtin`` has ``pages`` and
  ``attributes.gps_fact_topology``;
- ``execution_resources.json``: ``n_steps``, ``n_memory_holes``, ``builtin_instance_counter``;
- ``version.json``: ``{"cairo_pie": "1.1"}``.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from orchestrator_pipelines.errors import InvalidInputError
from orchestrator_pipelines.starknet.felt import STARK_PRIME

MEMBERS = (
    "metadata.json",
    "memory.bin",
    "additional_data.json",
    "execution_resources.json",
    "version.json",
)
CAIRO_PIE_VERSION = "1.1"
# What every member of a written PIE zip records, so equal content gives equal bytes:
# the earliest date a zip can hold, a plain file's mode, and zlib's default level.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
ZIP_MEMBER_MODE = 0o100644
ZIP_CREATE_SYSTEM_UNIX = 3
ZIP_COMPRESS_LEVEL = 6
GPS_FACT_TOPOLOGY = "gps_fact_topology"
# Most a PIE may inflate to (all members together): a multi-block SNOS PIE is a few
# hundred MB; anything far beyond is a broken or hostile zip.
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
_READ_CHUNK = 1 << 20

ADDRESS_BYTES = 8
VALUE_BYTES = 32
RECORD_BYTES = ADDRESS_BYTES + VALUE_BYTES
OFFSET_BITS = 47
SEGMENT_BITS = 16
_ADDRESS_FLAG = 1 << (8 * ADDRESS_BYTES - 1)
_VALUE_FLAG = 1 << (8 * VALUE_BYTES - 1)
_OFFSET_MASK = (1 << OFFSET_BITS) - 1
_SEGMENT_MASK = (1 << SEGMENT_BITS) - 1


@dataclass(frozen=True)
class FactTopology:
    """How the output is split into pages and how pages form the fact's Merkle tree.

    ``tree_structure`` is the flat list of ``(n_pages, n_nodes)`` pairs of the GPS fact
    topology; ``page_sizes`` the size of each page in order (page 0 first).
    """

    tree_structure: tuple[int, ...]
    page_sizes: tuple[int, ...]

    @classmethod
    def single_page(cls, output_size: int) -> FactTopology:
        """The default topology: the whole output is one page, the root is its hash."""
        return cls(tree_structure=(1, 0), page_sizes=(output_size,))

    def pages(self) -> dict[str, list[int]]:
        """The ``output_builtin.pages`` entry for pages 1.. as ``{id: [start, size]}``."""
        result: dict[str, list[int]] = {}
        start = self.page_sizes[0] if self.page_sizes else 0
        for page_id, size in enumerate(self.page_sizes[1:], start=1):
            result[str(page_id)] = [start, size]
            start += size
        return result


@dataclass
class CairoPie:
    """The parts of a Cairo PIE the settlement pipeline uses, read from its zip."""

    program_data: list[int]
    builtins: list[str]
    main: int
    prime: int
    output: list[int]
    fact_topology: FactTopology
    n_steps: int
    n_memory_holes: int = 0
    builtin_instance_counter: dict[str, int] = field(default_factory=dict)
    version: str = CAIRO_PIE_VERSION

    @property
    def layout(self) -> str | None:
        """PIEs do not record the Cairo layout; the prover picks it from the builtins."""
        return None

    def zip_bytes(self) -> bytes:
        """These parts as a PIE-shaped zip (:func:`pie_zip_bytes`), which :meth:`from_zip` reads back."""
        return pie_zip_bytes(
            self.program_data,
            self.output,
            self.n_steps,
            builtins=self.builtins,
            main=self.main,
            fact_topology=self.fact_topology,
        )

    @classmethod
    def from_zip(cls, source: str | Path | bytes, max_bytes: int | None = None) -> CairoPie:
        """Read a PIE zip from a path or from its bytes; bad input raises InvalidInputError.

        The members may inflate to at most ``max_bytes`` together (default
        :data:`MAX_UNCOMPRESSED_BYTES`, see :func:`_members`).
        """
        name = "Cairo PIE (bytes)" if isinstance(source, (bytes, bytearray)) else str(source)
        stream: Any = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
        try:
            archive = zipfile.ZipFile(stream)
        except zipfile.BadZipFile:
            raise InvalidInputError(f"{name}: not a zip file") from None
        except FileNotFoundError:
            raise InvalidInputError(f"{name}: no such file") from None
        except IsADirectoryError:
            raise InvalidInputError(f"{name}: is a directory, not a zip file") from None
        with archive:
            members = _members(archive, name, max_bytes)
        return _pie_from_members(members, name)


def _members(archive: zipfile.ZipFile, name: str, max_bytes: int | None = None) -> dict[str, bytes]:
    """The PIE members, inflated under a cap so that a zip bomb is refused, not expanded.

    The declared sizes are checked first: nothing is inflated if one member, or all
    together, declare more than the cap. Since a zip can lie about them, each member
    is then streamed with reads bounded by what the cap still allows, and reading
    stops as soon as the running total passes it, so at most the cap (plus one
    chunk) is ever held, whatever the member inflates to.
    """
    if max_bytes is None:
        max_bytes = MAX_UNCOMPRESSED_BYTES
    # Some writers put the members under a top-level folder; match by base name.
    by_base = {info.filename.rsplit("/", 1)[-1]: info for info in archive.infolist() if not info.is_dir()}
    missing = [member for member in MEMBERS if member not in by_base]
    if missing:
        raise InvalidInputError(f"{name}: missing member {missing[0]}")
    for member in MEMBERS:
        if by_base[member].file_size > max_bytes:
            raise InvalidInputError(
                f"{name}: {member} declares {by_base[member].file_size} bytes uncompressed, more than the "
                f"{max_bytes} allowed for a PIE; not inflating"
            )
    declared = sum(by_base[member].file_size for member in MEMBERS)
    if declared > max_bytes:
        raise InvalidInputError(
            f"{name}: members declare {declared} bytes uncompressed, more than the {max_bytes} allowed; not inflating"
        )
    members: dict[str, bytes] = {}
    total = 0
    for member in MEMBERS:
        chunks = []
        try:
            with archive.open(by_base[member]) as stream:
                while chunk := stream.read(min(_READ_CHUNK, max_bytes - total + 1)):
                    total += len(chunk)
                    if total > max_bytes:
                        raise InvalidInputError(
                            f"{name}: {member} inflates past the {max_bytes} bytes allowed for a PIE "
                            f"(declared sizes were wrong); stopped reading"
                        )
                    chunks.append(chunk)
        except InvalidInputError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, ValueError, OSError,
                EOFError, zlib.error) as exc:
            raise InvalidInputError(f"{name}: cannot read member {member}: {type(exc).__name__}: {exc}") from None
        members[member] = b"".join(chunks)
    return members


def _json(members: Mapping[str, bytes], member: str, name: str) -> Any:
    try:
        return json.loads(members[member])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{name}: {member} is not valid JSON ({exc})") from None


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"{where}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise InvalidInputError(f"{where}: expected an integer, got {str(value)[:60]!r}")


def _segment(metadata: Mapping[str, Any], key: str, name: str) -> tuple[int, int]:
    info = metadata.get(key)
    if not isinstance(info, Mapping):
        raise InvalidInputError(f"{name}: metadata.json has no {key}")
    index = _int(info.get("index"), f"{name}: metadata.json {key}.index")
    size = _int(info.get("size"), f"{name}: metadata.json {key}.size")
    if index < 0 or size < 0:
        raise InvalidInputError(f"{name}: metadata.json {key} has a negative index or size")
    return index, size


def read_memory(data: bytes, name: str = "memory.bin") -> dict[tuple[int, int], int | tuple[int, int]]:
    """Decode memory.bin to ``{(segment, offset): value}``; relocatable values are tuples."""
    if len(data) % RECORD_BYTES:
        raise InvalidInputError(f"{name}: memory.bin size {len(data)} is not a multiple of {RECORD_BYTES}")
    memory: dict[tuple[int, int], int | tuple[int, int]] = {}
    for record in range(len(data) // RECORD_BYTES):
        base = record * RECORD_BYTES
        address = int.from_bytes(data[base : base + ADDRESS_BYTES], "little")
        if not address & _ADDRESS_FLAG:
            raise InvalidInputError(f"{name}: memory.bin record {record} has a non-relocatable address {address:#x}")
        key = ((address >> OFFSET_BITS) & _SEGMENT_MASK, address & _OFFSET_MASK)
        raw = int.from_bytes(data[base + ADDRESS_BYTES : base + RECORD_BYTES], "little")
        value: int | tuple[int, int]
        if raw & _VALUE_FLAG:
            value = ((raw >> OFFSET_BITS) & _SEGMENT_MASK, raw & _OFFSET_MASK)
        else:
            if raw >= STARK_PRIME:
                raise InvalidInputError(f"{name}: memory.bin record {record} value is not below the Cairo prime")
            value = raw
        if key in memory and memory[key] != value:
            raise InvalidInputError(
                f"{name}: memory.bin address {key[0]}:{key[1]} is written twice with different values"
            )
        memory[key] = value
    return memory


def _page_sizes(output_size: int, pages: Any, name: str) -> list[int]:
    """Page sizes from the ``pages`` dict: pages 1.. must be adjacent and end the output."""
    if not isinstance(pages, Mapping):
        raise InvalidInputError(f"{name}: output_builtin.pages must be an object")
    try:
        ordered = sorted((int(page_id), value) for page_id, value in pages.items())
    except ValueError:
        raise InvalidInputError(f"{name}: output_builtin.pages has a non-numeric page id") from None
    page0_size = output_size
    sizes: list[int] = []
    expected_start: int | None = None
    for expected_id, (page_id, value) in enumerate(ordered, start=1):
        if page_id != expected_id:
            raise InvalidInputError(f"{name}: output page ids must be 1, 2, ...; got {page_id} for page {expected_id}")
        if not isinstance(value, Sequence) or len(value) != 2:
            raise InvalidInputError(f"{name}: output page {page_id} must be [start, size]")
        start = _int(value[0], f"{name}: output page {page_id} start")
        size = _int(value[1], f"{name}: output page {page_id} size")
        if page_id == 1:
            if not 0 <= start <= output_size:
                raise InvalidInputError(f"{name}: output page 1 starts at {start}, outside the output ({output_size})")
            page0_size = start
        elif start != expected_start:
            raise InvalidInputError(f"{name}: output page {page_id} starts at {start}, expected {expected_start}")
        if not 0 < size <= output_size:
            raise InvalidInputError(f"{name}: output page {page_id} has size {size}")
        sizes.append(size)
        expected_start = start + size
    if ordered and expected_start != output_size:
        raise InvalidInputError(f"{name}: output pages end at {expected_start}, but the output has {output_size} words")
    return [page0_size, *sizes]


def fact_topology_from_additional_data(output_size: int, output_builtin: Any, name: str = "Cairo PIE") -> FactTopology:
    """The fact topology of a PIE's output (``additional_data.json``'s ``output_builtin``)."""
    if output_builtin is None:
        return FactTopology.single_page(output_size)
    if not isinstance(output_builtin, Mapping):
        raise InvalidInputError(f"{name}: additional_data.json output_builtin must be an object")
    pages = output_builtin.get("pages", {}) or {}
    attributes = output_builtin.get("attributes", {}) or {}
    if not isinstance(attributes, Mapping):
        raise InvalidInputError(f"{name}: output_builtin.attributes must be an object")
    page_sizes = _page_sizes(output_size, pages, name)
    if GPS_FACT_TOPOLOGY in attributes:
        raw = attributes[GPS_FACT_TOPOLOGY]
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise InvalidInputError(f"{name}: {GPS_FACT_TOPOLOGY} must be a list of integers")
        tree = [_int(v, f"{name}: {GPS_FACT_TOPOLOGY}") for v in raw]
    else:
        if pages:
            raise InvalidInputError(f"{name}: output has pages but no {GPS_FACT_TOPOLOGY} attribute")
        tree = [1, 0]
    return FactTopology(tree_structure=tuple(tree), page_sizes=tuple(page_sizes))


def _pie_from_members(members: Mapping[str, bytes], name: str) -> CairoPie:
    metadata = _json(members, "metadata.json", name)
    additional = _json(members, "additional_data.json", name)
    resources = _json(members, "execution_resources.json", name)
    version = _json(members, "version.json", name)
    for member, value in (
        ("metadata.json", metadata),
        ("additional_data.json", additional),
        ("execution_resources.json", resources),
        ("version.json", version),
    ):
        if not isinstance(value, Mapping):
            raise InvalidInputError(f"{name}: {member} must be a JSON object")

    program = metadata.get("program")
    if not isinstance(program, Mapping) or not isinstance(program.get("data"), list):
        raise InvalidInputError(f"{name}: metadata.json program.data is missing")
    program_data = [_int(v, f"{name}: metadata.json program.data[{i}]") for i, v in enumerate(program["data"])]
    builtins = program.get("builtins", [])
    if not isinstance(builtins, list) or not all(isinstance(b, str) for b in builtins):
        raise InvalidInputError(f"{name}: metadata.json program.builtins must be a list of names")
    main = _int(program.get("main", 0), f"{name}: metadata.json program.main")
    prime = _int(program.get("prime", STARK_PRIME), f"{name}: metadata.json program.prime")
    if prime != STARK_PRIME:
        raise InvalidInputError(f"{name}: program prime {prime:#x} is not the Starknet prime")

    program_index, program_size = _segment(metadata, "program_segment", name)
    if program_size != len(program_data):
        raise InvalidInputError(
            f"{name}: program_segment size {program_size} differs from program.data length {len(program_data)}"
        )
    builtin_segments = metadata.get("builtin_segments")
    if not isinstance(builtin_segments, Mapping) or "output" not in builtin_segments:
        raise InvalidInputError(f"{name}: metadata.json builtin_segments has no output segment")
    output_index, output_size = _segment(builtin_segments, "output", name)

    memory = read_memory(members["memory.bin"], name)
    output: list[int] = []
    for offset in range(output_size):
        value = memory.get((output_index, offset))
        if value is None:
            raise InvalidInputError(f"{name}: output cell {offset} (segment {output_index}) is missing from memory.bin")
        if isinstance(value, tuple):
            raise InvalidInputError(f"{name}: output cell {offset} holds a relocatable value, expected a felt")
        output.append(value)
    beyond = [offset for (segment, offset) in memory if segment == output_index and offset >= output_size]
    if beyond:
        raise InvalidInputError(
            f"{name}: memory.bin has output cell {min(beyond)} beyond the output segment size {output_size}"
        )
    for offset, expected in enumerate(program_data):
        value = memory.get((program_index, offset))
        if value is not None and value != expected:
            raise InvalidInputError(f"{name}: memory.bin program cell {offset} differs from program.data[{offset}]")

    topology = fact_topology_from_additional_data(output_size, additional.get("output_builtin"), name)
    n_steps = _int(resources.get("n_steps"), f"{name}: execution_resources.json n_steps")
    holes = _int(resources.get("n_memory_holes", 0), f"{name}: execution_resources.json n_memory_holes")
    counter_raw = resources.get("builtin_instance_counter", {}) or {}
    if not isinstance(counter_raw, Mapping):
        raise InvalidInputError(f"{name}: execution_resources.json builtin_instance_counter must be an object")
    counter = {str(k): _int(v, f"{name}: builtin_instance_counter.{k}") for k, v in counter_raw.items()}
    return CairoPie(
        program_data=program_data,
        builtins=list(builtins),
        main=main,
        prime=prime,
        output=output,
        fact_topology=topology,
        n_steps=n_steps,
        n_memory_holes=holes,
        builtin_instance_counter=counter,
        version=str(version.get("cairo_pie", "")),
    )


def _address(segment: int, offset: int) -> bytes:
    return (_ADDRESS_FLAG | (segment << OFFSET_BITS) | offset).to_bytes(ADDRESS_BYTES, "little")


def pie_zip_bytes(
    program_data: Sequence[int],
    output: Sequence[int],
    n_steps: int,
    *,
    builtins: Sequence[str] = ("output",),
    main: int = 0,
    fact_topology: FactTopology | None = None,
) -> bytes:
    """A PIE-shaped zip holding the program and the output segment (no execution trace).

    Enough for everything downstream of SNOS that reads a PIE: the program hash, the
    output, the fact and the job size. ``builtins`` must include ``"output"``.
    """
    if "output" not in builtins:
        raise InvalidInputError("write_pie_zip: builtins must include 'output'")
    program = [int(v) for v in program_data]
    values = [int(v) for v in output]
    for what, words in (("program_data", program), ("output", values)):
        for index, value in enumerate(words):
            if not 0 <= value < STARK_PRIME:
                raise InvalidInputError(f"write_pie_zip: {what}[{index}] is not a felt")
    topology = fact_topology or FactTopology.single_page(len(values))
    if sum(topology.page_sizes) != len(values):
        raise InvalidInputError(
            f"write_pie_zip: fact topology pages cover {sum(topology.page_sizes)} words, output has {len(values)}"
        )
    builtin_segments = {b: {"index": 2 + i, "size": len(values) if b == "output" else 0} for i, b in enumerate(builtins)}
    next_index = 2 + len(builtins)
    metadata = {
        "program": {"data": program, "builtins": list(builtins), "main": main, "prime": STARK_PRIME},
        "program_segment": {"index": 0, "size": len(program)},
        "execution_segment": {"index": 1, "size": 0},
        "ret_fp_segment": {"index": next_index, "size": 0},
        "ret_pc_segment": {"index": next_index + 1, "size": 0},
        "builtin_segments": builtin_segments,
        "extra_segments": [],
    }
    output_index = builtin_segments["output"]["index"]
    memory = bytearray()
    for offset, value in enumerate(program):
        memory += _address(0, offset) + value.to_bytes(VALUE_BYTES, "little")
    for offset, value in enumerate(values):
        memory += _address(output_index, offset) + value.to_bytes(VALUE_BYTES, "little")
    output_builtin: dict[str, Any] = {"pages": topology.pages(), "attributes": {}}
    if tuple(topology.tree_structure) != (1, 0) or len(topology.page_sizes) > 1:
        output_builtin["attributes"][GPS_FACT_TOPOLOGY] = list(topology.tree_structure)
    additional = {f"{b}_builtin": None for b in builtins if b != "output"}
    additional["output_builtin"] = output_builtin
    resources = {
        "n_steps": int(n_steps),
        "n_memory_holes": 0,
        "builtin_instance_counter": {f"{b}_builtin": (len(values) if b == "output" else 0) for b in builtins},
    }
    return _reproducible_zip(
        {
            "metadata.json": json.dumps(metadata).encode(),
            "memory.bin": bytes(memory),
            "additional_data.json": json.dumps(additional).encode(),
            "execution_resources.json": json.dumps(resources).encode(),
            "version.json": json.dumps({"cairo_pie": CAIRO_PIE_VERSION}).encode(),
        }
    )


def _reproducible_zip(members: Mapping[str, bytes]) -> bytes:
    """A zip of ``members`` whose bytes depend on nothing but the members.

    A zip records each member's modification time, permissions and the order it was
    written in; left to ``zipfile`` those come from the clock and the caller, so two
    runs over the same blocks would give different PIEs, which then could not be
    compared, cached or deduplicated by hash. Members go in sorted by name, each
    dated :data:`ZIP_EPOCH` with mode 0644 and made "on Unix" (``zipfile`` would
    otherwise write the host system), deflated at a fixed level.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = ZIP_CREATE_SYSTEM_UNIX
            info.external_attr = ZIP_MEMBER_MODE << 16
            archive.writestr(info, members[name], compresslevel=ZIP_COMPRESS_LEVEL)
    return buffer.getvalue()


def write_pie_zip(
    path: str | Path,
    program_data: Sequence[int],
    output: Sequence[int],
    n_steps: int,
    *,
    builtins: Sequence[str] = ("output",),
    main: int = 0,
    fact_topology: FactTopology | None = None,
) -> Path:
    """Write :func:`pie_zip_bytes` to ``path`` (atomically: temp file then rename)."""
    path = Path(path)
    data = pie_zip_bytes(program_data, output, n_steps, builtins=builtins, main=main, fact_topology=fact_topology)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
