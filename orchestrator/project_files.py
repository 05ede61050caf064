"""The files ``orchestrator init`` reads and edits: pyproject.toml and pytest's own.

Edits keep everything the user wrote, comments and layout included: TOML goes
through tomlkit, INI files (pytest.ini, tox.ini, setup.cfg) are edited line by
line, new keys going after the last key of their section. Only missing keys are
added and invalid ones replaced; nothing is ever removed.
"""

from __future__ import annotations

import configparser
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from orchestrator.inference import InitError

# pytest reads the first of these that configures it (its own precedence), with the
# section or table it reads; pyproject.toml's table depends on its mode (see below).
PYTEST_FILES = (
    ("pytest.toml", "pytest"),
    (".pytest.toml", "pytest"),
    ("pytest.ini", "pytest"),
    (".pytest.ini", "pytest"),
    ("pyproject.toml", ""),
    ("tox.ini", "pytest"),
    ("setup.cfg", "tool:pytest"),
)
INI_OPTIONS = "tool.pytest.ini_options"
INI_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


@dataclass(frozen=True)
class PytestConfig:
    """Where pytest's configuration lives: ``PytestConfig(root / "setup.cfg", "tool:pytest")``.

    ``table`` is an INI section, or a dotted TOML table (``tool.pytest.ini_options``).
    ``exists`` is false for the table init would create in pyproject.toml.
    """

    path: Path
    table: str
    exists: bool = True

    @property
    def is_toml(self) -> bool:
        return self.path.suffix == ".toml"

    @property
    def label(self) -> str:
        """``pytest.ini [pytest]``, as the report names it."""
        return f"{self.path.name} [{self.table}]"


def read_text(path: Path) -> str | None:
    """The file's text with its own line endings, or ``None`` when it does not exist."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as stream:
        return stream.read()


def write_text(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        stream.write(text)


def parse_toml(path: Path, text: str) -> tomlkit.TOMLDocument:
    """The document, or one clear error naming the file."""
    try:
        return tomlkit.parse(text)
    except TOMLKitError as error:
        raise InitError(
            f"{path.name} is not valid TOML ({error}): fix it, then run again"
        ) from None


def toml_table(path: Path, dotted: str) -> dict[str, Any]:
    """The plain values of a TOML file's table (``{}`` if either is missing)."""
    text = read_text(path)
    table: Any = parse_toml(path, text).unwrap() if text is not None else {}
    for name in dotted.split("."):
        table = table.get(name, {}) if isinstance(table, dict) else {}
    return table if isinstance(table, dict) else {}


def locate_pytest_config(root: Path) -> PytestConfig:
    """The file and table pytest reads at ``root``; pyproject.toml's new table if none."""
    for name, section in PYTEST_FILES:
        path = root / name
        if not path.is_file():
            continue
        if name == "pyproject.toml":
            table = toml_table(path, "tool.pytest")
            if set(table) - {"ini_options"}:
                return PytestConfig(path, "tool.pytest")
            if "ini_options" in table:
                return PytestConfig(path, INI_OPTIONS)
        elif path.suffix == ".toml" or name.endswith("pytest.ini") or section in _sections(path):
            return PytestConfig(path, section)
    return PytestConfig(root / "pyproject.toml", INI_OPTIONS, exists=False)


def _parser(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(read_text(path) or "", str(path))
    except configparser.Error as error:
        raise InitError(f"{path.name} is not valid INI ({error}); fix it first") from None
    return parser


def _sections(path: Path) -> list[str]:
    return _parser(path).sections()


def pytest_values(config: PytestConfig) -> dict[str, Any]:
    """The keys of pytest's configuration, as written (INI values are strings)."""
    if not config.exists:
        return {}
    if config.is_toml:
        return toml_table(config.path, config.table)
    parser = _parser(config.path)
    return dict(parser[config.table]) if parser.has_section(config.table) else {}


def pytest_paths(values: Mapping[str, Any]) -> list[str]:
    """``pythonpath`` as a list, whether written as a TOML list or a spaced string."""
    value = values.get("pythonpath", [])
    return value.split() if isinstance(value, str) else [str(item) for item in value]


def settings_option(values: Mapping[str, Any]) -> str:
    """The settings module that ``--ds`` in ``addopts`` names, or ''."""
    addopts = values.get("addopts", "")
    words = shlex.split(addopts) if isinstance(addopts, str) else [str(a) for a in addopts]
    for index, word in enumerate(words):
        if word.startswith("--ds="):
            return word.removeprefix("--ds=")
        if word == "--ds" and index + 1 < len(words):
            return words[index + 1]
    return ""


def edit_toml(path: Path, text: str | None, dotted: str, values: Mapping[str, Any]) -> str:
    """``text`` with ``values`` set in table ``dotted`` (created, with its parents, if missing)."""
    document = parse_toml(path, text or "")
    names = dotted.split(".")
    table: Any = document
    for depth, name in enumerate(names):
        if name not in table:
            # Parents stay implicit: the file gains one [tool.orchestrator.worker] header.
            table[name] = tomlkit.table(is_super_table=depth < len(names) - 1)
        table = table[name]
        if not isinstance(table, dict):
            raise InitError(f"{path.name}: {'.'.join(names[: depth + 1])} is not a table")
    for key, value in values.items():
        table[key] = value
    return tomlkit.dumps(document)


def edit_ini(text: str | None, section: str, values: Mapping[str, str]) -> str:
    """``text`` with ``key = value`` lines set in ``[section]``, after its last key."""
    text = text or ""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    start = _section_start(lines, section)
    if start is None:
        lines += [newline] if lines else []
        lines.append(f"[{section}]{newline}")
        start = len(lines) - 1
    end = next((i for i in range(start + 1, len(lines)) if INI_SECTION.match(lines[i])), len(lines))
    for key, value in values.items():
        existing = _key_line(lines, start, end, key)
        line = f"{key} = {value}{newline}"
        if existing is not None:
            # A replaced value's continuation lines (indented) go with it.
            after = existing + 1
            while after < end and lines[after][:1] in (" ", "\t") and lines[after].strip():
                after += 1
            lines[existing:after] = [line]
            end -= after - existing - 1
            continue
        last = max((i for i in range(start + 1, end) if _is_entry(lines[i])), default=start)
        if not lines[last].endswith(("\n", "\r")):
            lines[last] += newline
        lines.insert(last + 1, line)
        end += 1
    return "".join(lines)


def _section_start(lines: list[str], section: str) -> int | None:
    for index, line in enumerate(lines):
        match = INI_SECTION.match(line)
        if match and match[1].strip() == section:
            return index
    return None


def _key_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    pattern = re.compile(rf"^{re.escape(key)}\s*[=:]")
    return next((i for i in range(start + 1, end) if pattern.match(lines[i])), None)


def _is_entry(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(("#", ";"))
