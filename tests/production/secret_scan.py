"""Looking for secrets where an operator, a log shipper or a UI user could read them.

A secret counts as leaked when any of its usual spellings shows up: the raw
value, hex (with and without ``0x``, either case) of a hex key and of the
value's bytes, URL-encoding, and base64 (standard and URL-safe). The places
searched are the ones a deployment keeps or serves: every table of the Dagster
database, files under a directory (zip and gzip members opened), captured log
text, and the Dagster webserver's GraphQL answers.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from urllib.parse import quote, quote_plus

import requests

# Spellings shorter than this would match by chance (a short secret is a test mistake anyway).
MIN_SPELLING = 12


def spellings(secret: str) -> dict[str, str]:
    """Every spelling of ``secret`` searched for, keyed by how it was encoded."""
    raw = secret.encode()
    found = {
        "raw": secret,
        "lowercase": secret.lower(),
        "uppercase": secret.upper(),
        "url-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret, safe=""),
        "hex of its bytes": raw.hex(),
        "HEX of its bytes": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "urlsafe base64": base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    body = secret[2:] if secret.lower().startswith("0x") else secret
    if len(body) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in body):
        key = bytes.fromhex(body)
        found.update({
            "hex without 0x": body.lower(),
            "HEX without 0x": body.upper(),
            "hex with 0x": "0x" + body.lower(),
            "base64 of the key bytes": base64.b64encode(key).decode().rstrip("="),
            "urlsafe base64 of the key bytes": base64.urlsafe_b64encode(key).decode().rstrip("="),
        })
    return {how: text for how, text in found.items() if len(text) >= MIN_SPELLING}


class SecretScan:
    """Collects one line per (place, secret, spelling) found; ``leaks`` is empty when nothing leaked."""

    def __init__(self, secrets: Mapping[str, str]):
        self.needles = {
            name: {how: (text, text.encode()) for how, text in spellings(value).items()}
            for name, value in secrets.items()
        }
        self.leaks: list[str] = []
        self.places = 0

    def text(self, where: str, data: str | bytes) -> None:
        """Search one text or byte string (as received; base64 inside JSON and such are covered by spellings)."""
        self.places += 1
        for name, forms in self.needles.items():
            for how, (text, raw) in forms.items():
                if (raw in data) if isinstance(data, bytes) else (text in data):
                    self.leaks.append(f"{where}: {name} ({how})")
                    break

    def tree(self, root: Path, label: str) -> int:
        """Every file under ``root``, zip and gzip members opened; returns how many files were read."""
        count = 0
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            count += 1
            where = f"{label}/{path.relative_to(root)}"
            data = path.read_bytes()
            self.text(where, data)
            for member, content in _unpacked(data):
                self.text(f"{where}!{member}", content)
        return count

    def database(self, connect) -> dict[str, int]:
        """Every row of every table in the ``public`` schema, each row as PostgreSQL's text of it.

        ``connect()`` returns a psycopg2 connection; bytea columns come out as ``\\x…`` hex,
        which the hex spellings cover. Returns the row count per table.
        """
        counts: dict[str, int] = {}
        with closing(connect()) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
            for (table,) in cursor.fetchall():
                cursor.execute(f'SELECT t::text FROM "{table}" t')
                rows = [row[0] for row in cursor.fetchall()]
                counts[table] = len(rows)
                self.text(f"PostgreSQL table {table}", "\n".join(rows))
        return counts

    def graphql(self, url: str, name: str, query: str, variables: Mapping | None = None) -> dict:
        """POST one query to the webserver's ``/graphql``; searches the whole answer and returns its data."""
        answer = requests.post(f"{url}/graphql", json={"query": query, "variables": dict(variables or {})}, timeout=120)
        answer.raise_for_status()
        body = answer.json()
        assert not body.get("errors"), f"GraphQL {name}: {json.dumps(body['errors'])[:500]}"
        self.text(f"GraphQL {name}", answer.text)
        _assert_no_python_error(name, body["data"])
        return body["data"]


def _unpacked(data: bytes) -> Iterable[tuple[str, bytes]]:
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                yield member, archive.read(member)
    elif data[:2] == b"\x1f\x8b":
        yield "gunzip", gzip.decompress(data)


def _assert_no_python_error(name: str, data: object) -> None:
    """An ``…OrError`` field that answered an error searched nothing: fail rather than pass.

    Errors inside an answer (a failed step's error event) are content, not failures.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            if (key.endswith("OrError") or key == "logsForRun") and isinstance(value, dict):
                assert value.get("__typename") not in ("PythonError", "RepositoryNotFoundError", "RunNotFoundError"), (
                    f"GraphQL {name}: {key} answered {value.get('__typename')}: {str(value.get('message', ''))[:300]}"
                )
            _assert_no_python_error(name, value)
    elif isinstance(data, list):
        for value in data:
            _assert_no_python_error(name, value)


METADATA = """
fragment entry on MetadataEntry {
  __typename label description
  ... on TextMetadataEntry { text }
  ... on UrlMetadataEntry { url }
  ... on JsonMetadataEntry { jsonString }
  ... on PathMetadataEntry { path }
  ... on MarkdownMetadataEntry { mdStr }
  ... on IntMetadataEntry { intRepr }
  ... on FloatMetadataEntry { floatRepr }
  ... on BoolMetadataEntry { boolValue }
  ... on TimestampMetadataEntry { timestamp }
  ... on PythonArtifactMetadataEntry { module name }
  ... on TableMetadataEntry { table { records } }
  ... on PipelineRunMetadataEntry { runId }
  ... on AssetMetadataEntry { assetKey { path } }
}
fragment err on PythonError { __typename message stack className causes { message stack } }
"""

WORKSPACE = """
{ instance { info runLauncher { name } runQueuingSupported daemonHealth { allDaemonStatuses { daemonType healthy } } }
  workspaceOrError { __typename ... on Workspace { locationEntries { name locationOrLoadError {
  __typename ... on RepositoryLocation { name repositories { name } } ... on PythonError { message } } } } } }
"""

RUNS = """
{ runsOrError(limit: 10000) { __typename ... on Runs { results {
  runId jobName status runConfigYaml mode tags { key value } assetSelection { path }
  executionPlan { steps { key } } } } ... on PythonError { message } } }
"""

RUN_LOGS = METADATA + """
query ($runId: ID!) { logsForRun(runId: $runId, limit: 100000) { __typename
  ... on EventConnection { events { __typename
    ... on MessageEvent { message level stepKey }
    ... on DisplayableEvent { label description metadataEntries { ...entry } }
    ... on ErrorEvent { error { ...err } }
    ... on ExecutionStepFailureEvent { failureMetadata { metadataEntries { ...entry } } }
    ... on MaterializationEvent { partition tags { key value } assetKey { path } }
    ... on AssetCheckEvaluationEvent { evaluation { metadataEntries { ...entry } } }
    ... on LogsCapturedEvent { fileKey externalUrl externalStdoutUrl externalStderrUrl stepKeys }
  } }
  ... on PythonError { message } } }
"""

CAPTURED_LOGS = """
query ($logKey: [String!]!) { capturedLogs(logKey: $logKey) { stdout stderr } }
"""

REPOSITORY = METADATA + """
query ($sel: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $sel) { __typename
    ... on ResourceDetailsList { results { name description resourceType
      configFields { name description defaultValueAsJson configTypeKey }
      configuredValues { key value type } } }
    ... on PythonError { message } }
  utilizedEnvVarsOrError(repositorySelector: $sel) { __typename
    ... on EnvVarWithConsumersList { results { envVarName } } ... on PythonError { message } }
  sensorsOrError(repositorySelector: $sel) { __typename
    ... on Sensors { results { name description minIntervalSeconds
      metadata { assetKeys { path } }
      sensorState { status typeSpecificData { ... on SensorData { lastCursor } }
        ticks(limit: 100) { status skipReason runIds cursor error { ...err } } } } }
    ... on PythonError { message } }
  repositoryOrError(repositorySelector: $sel) { __typename
    ... on Repository { name jobs { name description tags { key value } presets { name runConfigYaml } } }
    ... on PythonError { message } }
  assetNodes(loadMaterializations: true) { assetKey { path } description opName jobNames
    metadataEntries { ...entry }
    assetMaterializations(limit: 1000) { runId partition tags { key value } metadataEntries { ...entry } } }
}
"""

RUN_CONFIG_SCHEMA = """
query ($sel: PipelineSelector!) { runConfigSchemaOrError(selector: $sel) { __typename
  ... on RunConfigSchema { rootDefaultYaml
    allConfigTypes { key description ... on CompositeConfigType { fields { name description defaultValueAsJson } } } }
  ... on PythonError { message } } }
"""


def scan_webserver(scan: SecretScan, url: str) -> dict[str, int]:
    """Ask the webserver what its pages show: runs, their config, tags and logs, assets, sensors, resources."""
    locations = scan.graphql(url, "workspace", WORKSPACE)["workspaceOrError"]["locationEntries"]
    repositories = [
        (entry["locationOrLoadError"]["name"], repo["name"])
        for entry in locations
        for repo in entry["locationOrLoadError"]["repositories"]
    ]
    assert repositories, "the webserver loaded no repository"
    runs = scan.graphql(url, "runs", RUNS)["runsOrError"]["results"]
    captured = 0
    for run in runs:
        events = scan.graphql(url, f"logsForRun {run['runId']}", RUN_LOGS, {"runId": run["runId"]})["logsForRun"]["events"]
        for file_key in {e["fileKey"] for e in events if e["__typename"] == "LogsCapturedEvent"}:
            key = [run["runId"], "compute_logs", file_key]
            scan.graphql(url, f"capturedLogs {'/'.join(key)}", CAPTURED_LOGS, {"logKey": key})
            captured += 1
    resources = 0
    for location, repository in repositories:
        selector = {"repositoryLocationName": location, "repositoryName": repository}
        data = scan.graphql(url, f"repository {repository}", REPOSITORY, {"sel": selector})
        resources += len(data["allTopLevelResourceDetailsOrError"]["results"])
        for job in data["repositoryOrError"]["jobs"]:
            scan.graphql(url, f"run config schema of {job['name']}", RUN_CONFIG_SCHEMA, {"sel": {**selector, "pipelineName": job["name"]}})
    return {"runs": len(runs), "captured logs": captured, "resources": resources}
