"""The README stays true: its two commands, its configuration table, CI's command."""

from __future__ import annotations

import re

from orchestrator_pipelines.config import SECRET_ENV_VARS, Settings, configuration_rows
from tests.conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def test_the_first_code_block_is_the_two_setup_commands():
    block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make dev", "make test"]


def test_ci_runs_exactly_the_readme_test_command():
    lines = [l.strip() for l in (REPO_ROOT / ".ci" / "run").read_text().splitlines()]
    assert "make test" in lines


def test_every_setting_and_its_aliases_are_in_the_configuration_table():
    for name, field in Settings.model_fields.items():
        for variable in field.validation_alias.choices:
            assert f"`{variable}`" in README, f"{variable} ({name}) missing from the README"
    for ours, madara in SECRET_ENV_VARS.values():
        assert f"`{ours}` (secret)" in README
        if madara:
            assert f"`{madara}`" in README


def _configuration_table() -> list[str]:
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_the_configuration_table_has_each_fields_row_with_its_names_default_and_meaning():
    """Walks every field: its row (our variable, Madara's names, default, meaning) is in the table as the model says."""
    table = _configuration_table()
    for name, row in configuration_rows().items():
        assert row in table, f"README configuration table: the row of {name} must read\n{row}"
    assert len(table) == len(configuration_rows()), "the configuration table has rows for settings that do not exist"
