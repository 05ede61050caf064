"""What pip in the worker image build needs from this machine: index settings, a CA
bundle and the project's requirements, as files the build context can carry.

Host paths do not exist in the build: requirement files named by ``-r``/``-c`` are
inlined, and locations only this machine has (``file://`` indexes, local wheel
directories) are left out. Credentials in index URLs go only into the ``pip.conf``
of the build context, never into a fingerprint or a message.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from orchestrator.errors import ImageError

# The sections `pip install` reads, later ones winning (PIP_* variables are ":env:").
PIP_SECTIONS = ("global", "install", ":env:")
# Where requests (pip's HTTP library) and OpenSSL are told of a CA bundle, when pip's own
# `cert` is not set.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IMAGE_CA_BUNDLE = "/stackyard/ca.pem"
REMOTE_SCHEMES = ("http", "https")


def parse_pip_config(listing: str) -> dict[str, str]:
    """The settings ``pip install`` uses, from the output of ``pip config list``.

    ``global.index-url='https://a/simple'`` then ``:env:.index-url='https://b/simple'``
    give ``{"index-url": "https://b/simple"}``: like pip, a later section replaces a
    value (lists are not merged).
    """
    by_section: dict[str, dict[str, str]] = {}
    for line in listing.splitlines():
        name, equals, raw = line.partition("=")
        section, dot, key = name.partition(".")
        if not (equals and dot) or section not in PIP_SECTIONS:
            continue
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            continue  # pip prints repr(); anything else is not a setting
        by_section.setdefault(section, {})[key.replace("_", "-")] = str(value)
    merged: dict[str, str] = {}
    for section in PIP_SECTIONS:
        merged.update(by_section.get(section, {}))
    return merged


def read_pip_config(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This machine's pip settings as ``pip install`` in this environment would use them.

    Read from pip's own files and variables, in pip's order (global files, the user's,
    the environment's, ``PIP_CONFIG_FILE``, then ``PIP_*``), instead of asking
    ``pip config list``: that costs half a second, paid by every stack start and attach.
    """
    environ = dict(os.environ if environ is None else environ)
    lines: list[str] = []
    for path in _pip_config_files(environ):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # pip itself would stop on it; the image build will say so
        for section in parser.sections():
            lines += [f"{section}.{key}={value!r}" for key, value in parser.items(section)]
    lines += [
        f":env:.{name[4:].lower().replace('_', '-')}={value!r}"
        for name, value in environ.items()
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE"
    ]
    return parse_pip_config("\n".join(lines))


def _pip_config_files(environ: Mapping[str, str]) -> list[Path]:
    """pip's configuration files that exist, lowest precedence first."""
    explicit = environ.get("PIP_CONFIG_FILE", "")
    if explicit == os.devnull:
        return []
    xdg_dirs = environ.get("XDG_CONFIG_DIRS", "") or "/etc/xdg"
    home = Path(environ.get("HOME", "~")).expanduser()
    config_home = Path(environ.get("XDG_CONFIG_HOME", "") or home / ".config")
    files = [Path(folder) / "pip" / "pip.conf" for folder in reversed(xdg_dirs.split(":"))]
    files.append(Path("/etc/pip.conf"))
    if not (explicit and Path(explicit).exists()):  # pip skips the user's then
        files += [home / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return [path for path in files if path.is_file()]


def redacted(url: str) -> str:
    """``url`` without its user and password: ``https://***@host/simple``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class PipIndex:
    """Where pip in the worker image build finds packages: this machine's settings,
    less the locations that exist only on this machine.

    Example (host: ``extra-index-url = https://u:p@pkgs.example/simple file:///opt/pypi``)::

        PipIndex(index_url="", extra_index_urls=("https://u:p@pkgs.example/simple",),
                 trusted_hosts=(), find_links=(),
                 ca_bundle=Path("/etc/ssl/certs/ca-certificates.crt"),
                 host_only=("file:///opt/pypi",))

    ``index_url`` '' is pip's default (PyPI). Only :meth:`pip_conf` holds credentials;
    :meth:`fingerprint` and :meth:`describe` never do.
    """

    index_url: str = ""
    extra_index_urls: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    ca_bundle: Path | None = None
    host_only: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str], environ: Mapping[str, str] | None = None
    ) -> PipIndex:
        """From ``pip config list``'s settings (:func:`parse_pip_config`) and the environment."""
        environ = os.environ if environ is None else environ
        locations = {
            key: settings.get(key, "").split()
            for key in ("index-url", "extra-index-url", "find-links")
        }
        remote = {
            key: tuple(url for url in urls if urlsplit(url).scheme in REMOTE_SCHEMES)
            for key, urls in locations.items()
        }
        host_only = tuple(
            url
            for urls in locations.values()
            for url in urls
            if urlsplit(url).scheme not in REMOTE_SCHEMES
        )
        return cls(
            index_url=next(iter(remote["index-url"]), ""),
            extra_index_urls=remote["extra-index-url"],
            trusted_hosts=tuple(settings.get("trusted-host", "").split()),
            find_links=remote["find-links"],
            ca_bundle=_ca_bundle(settings, environ),
            host_only=host_only,
        )

    def pip_conf(self) -> str:
        """A pip configuration file for the image build (credentials included)."""
        lines = ["[global]"]
        for key, values in (
            ("index-url", (self.index_url,) if self.index_url else ()),
            ("extra-index-url", self.extra_index_urls),
            ("trusted-host", self.trusted_hosts),
            ("find-links", self.find_links),
            ("cert", (IMAGE_CA_BUNDLE,) if self.ca_bundle else ()),
        ):
            if values:
                lines.append(f"{key} = {' '.join(values)}")
        return "\n".join(lines) + "\n"

    def fingerprint(self) -> str:
        """What changes the resolved packages, credentials left out (they change nothing,
        and a hash of a password in an image tag could be guessed offline)."""
        return "\n".join(
            [
                redacted(self.index_url),
                *map(redacted, self.extra_index_urls),
                *self.trusted_hosts,
                *map(redacted, self.find_links),
            ]
        )

    def describe(self) -> str:
        """The indexes for a message: ``indexes https://***@pkgs.example/simple``."""
        urls = [redacted(url) for url in (self.index_url, *self.extra_index_urls) if url]
        return "indexes " + ", ".join(urls) if urls else "PyPI, pip's default index"


def _ca_bundle(settings: Mapping[str, str], environ: Mapping[str, str]) -> Path | None:
    """The CA bundle pip here trusts: pip's ``cert``, the usual variables, the system's."""
    named = [settings.get("cert", ""), *(environ.get(name, "") for name in CA_BUNDLE_VARIABLES)]
    for candidate in [*(Path(name) for name in named if name), SYSTEM_CA_BUNDLE]:
        if candidate.is_file():
            return candidate
    return None


# --- the worker's requirements -------------------------------------------------------

# pip's own rule: "#" starts a comment at the start of a line or after whitespace.
COMMENT = re.compile(r"(^|\s+)#.*$")
INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|\s*=\s*)(\S+)$")
# Installs from this machine's disk: an editable install, a path, a file: URL.
LOCAL = re.compile(r"^(-e|--editable)\b|^\.{0,2}/|(^|[\s@])file:")


@dataclass
class PipFiles:
    """The lines of the requirements and constraints files pip gets in the image.

    Files named by ``-r``/``-c`` exist only on this machine, so their lines are
    inlined: ``-r base.txt`` becomes base.txt's requirements, ``-c pins.txt`` its
    constraints.
    """

    requirements: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)

    def add_file(
        self, path: Path, as_constraints: bool, seen: frozenset[Path] = frozenset()
    ) -> None:
        """Add ``path``'s lines; an include cycle is skipped (pip would loop)."""
        path = path.resolve()
        if path in seen:
            return
        if not path.is_file():
            raise ImageError(
                f"{path}: no such file (named by -r or -c in the worker's requirements)"
            )
        for line in _logical_lines(path.read_text()):
            include = INCLUDE.match(line)
            if include and urlsplit(include[2]).scheme not in REMOTE_SCHEMES:
                constraint = as_constraints or include[1] in ("-c", "--constraint")
                self.add_file(path.parent / include[2], constraint, seen | {path})
                continue
            self.add_line(line, as_constraints, origin=path)

    def add_line(self, line: str, as_constraints: bool, origin: Path) -> None:
        """Add one requirement or constraint; one on this machine's disk is an error."""
        if LOCAL.search(line):
            raise ImageError(
                f"{origin}: {line!r} installs from this machine's disk, which the worker "
                "image build cannot see. The project's own source is mounted at /app: "
                "drop the line; other packages must come from an index, or name a ready "
                "image in images.worker"
            )
        (self.constraints if as_constraints else self.requirements).append(line)


def _logical_lines(text: str) -> Iterator[str]:
    """Non-empty lines, comments removed and backslash continuations joined, as pip reads."""
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = COMMENT.sub("", pending + raw).strip()
        pending = ""
        if line:
            yield line
