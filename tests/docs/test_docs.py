"""The docs say what the code does: one source of truth for defaults, keys and paths, and a
test that fails when the docs, the help text and the parser disagree."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from vecq.api.cli import build_parser
from vecq.api.ingest.etl_config import load_config
from vecq.api.ingest.schedule_keys import COLUMN_KEYS, SOURCE_KEYS
from vecq.shared.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A path of this repository in backticks (a module, a test, a script, a deploy file).
PATH = re.compile(r"`((?:api|shared|workers|tests|bench|deploy|docs)/[\w./-]+?\.\w+)(?:::[^`]*)?`")


def _table(page: Path, heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading`` in ``page``."""
    text = page.read_text()
    rows = []
    for line in text[text.index(heading) :].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # the header and its rule left out


def test_every_path_the_docs_name_exists() -> None:
    """A module, test or file named in the README or docs/ is where the docs say."""
    named = {(page.name, p) for page in PAGES for p in PATH.findall(page.read_text())}
    assert len(named) > 30
    assert sorted(f"{page}: {p}" for page, p in named if not (ROOT / p).exists()) == []


def test_the_schedule_keys_are_documented_as_the_parser_takes_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/cli.md's table, `vecq schedule --help` and the parser know the same keys."""
    documented = {row[0].strip("`") for row in _table(ROOT / "docs" / "cli.md", "The keys of a")}
    parsed = set(SOURCE_KEYS) | {f"columns.{key}" for key in COLUMN_KEYS}
    assert documented == parsed
    with pytest.raises(SystemExit):
        build_parser().parse_args(["schedule", "--help"])
    help_text = capsys.readouterr().out
    assert all(re.search(rf"\n\s+{key}\s", help_text) for key in [*SOURCE_KEYS, *COLUMN_KEYS])


def test_the_documented_schedule_files_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every TOML example of docs/cli.md, and deploy/etl.example.toml, is a valid schedule."""
    monkeypatch.setenv("PRODUCTS_KEY", "ab" * 32)
    text = (ROOT / "docs" / "cli.md").read_text()
    examples = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert examples
    for example in examples:
        path = tmp_path / "etl.toml"
        path.write_text(example.replace('key_file = "/run/secrets/products.key"', ""))
        assert load_config(path)
    example = (ROOT / "deploy" / "etl.example.toml").read_text()
    path.write_text(
        example.replace('key_file = "/run/secrets/etl_index_key"', 'key_env = "PRODUCTS_KEY"')
    )
    assert load_config(path)


def test_every_setting_is_documented_with_its_default() -> None:
    """docs/operations.md's table names every VECQ_* setting, and shows its default value."""
    rows = _table(ROOT / "docs" / "operations.md", "## Configuration")
    for field in dataclasses.fields(Settings):
        name = f"VECQ_{field.name.upper()}"
        row = next((r for r in rows if f"`{name}`" in r[0]), None)
        assert row is not None, f"{name} is not in docs/operations.md"
        default = field.default
        if isinstance(default, bool):
            assert str(default).lower() in row[1], name
        elif isinstance(default, int | float) and default > 0:
            shown = str(int(default)) if float(default).is_integer() else str(default)
            assert f"`{shown}`" in row[1], (name, row[1])
        elif isinstance(default, str):
            assert default in row[1], (name, row[1])
