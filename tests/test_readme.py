"""The README stays true: its two commands, its configuration table, CI's command."""

from __future__ import annotations

import re

from orchestrator_pipelines.config import SECRET_ENV_VARS, Settings
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
