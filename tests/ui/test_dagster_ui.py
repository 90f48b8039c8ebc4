"""The Dagster UI shows an operator the settlement pipeline: lineage, batch partitions, metadata.

Everything is looked at in headless Chromium on the real webserver (see
conftest.py): the asset graph's nodes and edges are read from the rendered
SVG, the partitions and metadata from the pages an operator opens to find
which batch is where and which L1 transaction settled it.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from orchestrator_pipelines.assets import BATCH_ASSETS
from tests.ui.deployment import ASSETS, BATCH_BLOCKS, LAST_BLOCK, SettledDeployment

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "asset-graph.png"
# Set to write the screenshot into docs/ for the README (kept out of ordinary runs so
# that running the tests never modifies the checkout).
UPDATE_DOCS_ENV = "ORCHESTRATOR_UPDATE_DOCS_SCREENSHOT"

# The settlement pipeline's lineage; the assets' declared deps must say the same.
LINEAGE = {
    ("batch", "snos_output"),
    ("batch", "da_blob"),
    ("snos_output", "da_blob"),
    ("snos_output", "proof_request"),
    ("proof_request", "proof"),
    ("proof", "state_update"),
    ("da_blob", "state_update"),
}
LAYOUT_DEADLINE_S = 10

# Each drawn edge of the graph, as (upstream, downstream): its start point lies on the right
# side of the upstream node and its end (the arrow) just left of the downstream node, so each
# end is matched to the nearest node box, in screen coordinates. ``gap`` is the larger of the
# two distances, to show the match is not a guess.
EDGES_JS = """
(names) => {
  const boxes = [...document.querySelectorAll('svg foreignObject')].map(node => ({
    name: names.find(name => [...node.querySelectorAll('*')].some(
      el => el.childElementCount === 0 && el.textContent.trim() === name)),
    rect: node.getBoundingClientRect(),
  }));
  const distance = (p, r) => Math.hypot(
    Math.max(r.left - p.x, 0, p.x - r.right), Math.max(r.top - p.y, 0, p.y - r.bottom));
  const nearest = p => boxes.map(b => ({name: b.name, d: distance(p, b.rect)})).sort((a, b) => a.d - b.d)[0];
  return [...document.querySelectorAll('svg path[marker-end]')].map(path => {
    const ctm = path.getScreenCTM();
    const at = length => {
      const point = path.getPointAtLength(length);
      return new DOMPoint(point.x, point.y).matrixTransform(ctm);
    };
    const from = nearest(at(0));
    const to = nearest(at(path.getTotalLength()));
    return {from: from.name, to: to.name, gap: Math.max(from.d, to.d)};
  });
}
"""


def open_asset_graph(page: Page):
    """The global lineage page, once all six nodes are drawn; returns the node locator."""
    page.goto("/asset-groups")
    nodes = page.locator("svg foreignObject")
    expect(nodes).to_have_count(len(ASSETS))
    for asset in ASSETS:
        expect(nodes.filter(has=page.get_by_text(asset, exact=True))).to_have_count(1)
    return nodes


def settled_layout(page: Page, nodes) -> list[dict]:
    """Node boxes once the graph has stopped moving (it zooms to fit after the first draw)."""
    deadline = time.monotonic() + LAYOUT_DEADLINE_S
    previous = None
    while True:
        boxes = [nodes.nth(i).bounding_box() for i in range(nodes.count())]
        if boxes == previous:
            return boxes
        assert time.monotonic() < deadline, f"asset graph still moving after {LAYOUT_DEADLINE_S} s"
        previous = boxes
        page.wait_for_timeout(150)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def metadata_value(page: Page, key: str):
    """The value cell next to metadata key ``key`` in the materialization's metadata table."""
    row = page.locator("tr").filter(has=page.get_by_text(key, exact=True))
    return row.locator("td").nth(1)


def test_asset_graph_shows_the_six_assets_and_their_lineage(ui_page: Page, settled_deployment: SettledDeployment):
    nodes = open_asset_graph(ui_page)
    edges_drawn = ui_page.locator("svg path[marker-end]")
    expect(edges_drawn).to_have_count(len(LINEAGE))
    settled_layout(ui_page, nodes)

    edges = ui_page.evaluate(EDGES_JS, list(ASSETS))
    assert {(edge["from"], edge["to"]) for edge in edges} == LINEAGE, edges
    assert all(edge["gap"] < 20 for edge in edges), edges


def test_lineage_is_what_the_assets_declare():
    declared = {
        (upstream.to_user_string(), asset.key.to_user_string())
        for asset in BATCH_ASSETS
        for upstream in asset.asset_deps[asset.key]
    }
    assert declared == LINEAGE


def test_asset_graph_nodes_show_filled_partitions_and_passed_checks(
    ui_page: Page, settled_deployment: SettledDeployment, tmp_path: Path
):
    """The graph an operator opens first, also saved as the README's picture of the pipeline."""
    nodes = open_asset_graph(ui_page)
    # Every partition of every asset is materialized: each node says so.
    expect(nodes.filter(has_text="100% filled")).to_have_count(len(ASSETS))
    for asset in BATCH_ASSETS:
        checks = len(asset.check_specs)
        if checks:
            node = nodes.filter(has=ui_page.get_by_text(asset.key.to_user_string(), exact=True))
            expect(node).to_contain_text(f"{checks} / {checks} Passed")
    expect(ui_page.get_by_role("dialog")).to_have_count(0)
    boxes = settled_layout(ui_page, nodes)

    margin = 24
    left = min(box["x"] for box in boxes) - margin
    top = min(box["y"] for box in boxes) - margin
    right = max(box["x"] + box["width"] for box in boxes) + margin
    bottom = max(box["y"] + box["height"] for box in boxes) + margin
    shot = tmp_path / "asset-graph.png"
    ui_page.screenshot(path=shot, clip={"x": left, "y": top, "width": right - left, "height": bottom - top})

    width, height = png_size(shot)
    assert 800 <= width <= 1920 and 200 <= height <= 820, (width, height)
    assert shot.stat().st_size < 400_000
    if os.environ.get(UPDATE_DOCS_ENV) == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


@pytest.mark.parametrize("asset", ASSETS)
def test_partitions_page_lists_every_batch_as_materialized(
    ui_page: Page, settled_deployment: SettledDeployment, asset: str
):
    ui_page.goto(f"/assets/{asset}?view=partitions")
    keys = settled_deployment.batch_keys
    expect(ui_page.get_by_text(f"Materialized ({len(keys)})", exact=True)).to_be_visible()
    expect(ui_page.get_by_text("Missing (0)", exact=True)).to_be_visible()
    expect(ui_page.get_by_text("Failed (0)", exact=True)).to_be_visible()
    for key in keys:
        expect(ui_page.locator(f'[title="{key}"]')).to_be_visible()


@pytest.mark.parametrize("index", [0, 1])
def test_state_update_metadata_shows_the_block_range_and_the_settlement_transaction(
    ui_page: Page, settled_deployment: SettledDeployment, index: int
):
    key = settled_deployment.batch_keys[index]
    expected = settled_deployment.metadata[("state_update", key)]
    ui_page.goto("/assets/state_update?view=partitions")
    ui_page.locator(f'[title="{key}"]').click()
    expect(ui_page).to_have_url(re.compile(rf"/assets/state_update\?view=partitions&partition={key}$"))

    for name in ("first_block", "last_block", "tx_hash", "l1_state_root"):
        expect(metadata_value(ui_page, name)).to_have_text(str(expected[name]))
    assert expected["first_block"] == 1 + index * BATCH_BLOCKS
    assert expected["last_block"] == (index + 1) * BATCH_BLOCKS
    assert expected["tx_hash"].startswith("0x") and len(expected["tx_hash"]) == 66


def test_batch_events_page_shows_the_block_range_of_each_materialization(
    ui_page: Page, settled_deployment: SettledDeployment
):
    key = settled_deployment.batch_keys[-1]
    expected = settled_deployment.metadata[("batch", key)]
    ui_page.goto(f"/assets/batch?view=events&partition={key}")
    expect(ui_page.get_by_text(f"Partition {key} materialized in run", exact=False)).to_be_visible()
    expect(metadata_value(ui_page, "first_block")).to_have_text(str(expected["first_block"]))
    expect(metadata_value(ui_page, "last_block")).to_have_text(str(LAST_BLOCK))
