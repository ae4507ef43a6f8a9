"""Code of the user's own, named as entry points are: `FILE.py:NAME` or `package.module:NAME`.

A user's search space (`--space`) and dataset (`--data FILE.py:NAME`) are Python objects in the user's files. This
module parses such a name, finds the source file without importing it (the parent process stays light), and
fingerprints it, so that a run's identity changes whenever the code does: an edited space never resumes or pools
with the runs of the old one. Importing the object (`load_object`) happens only in the processes that use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Source", "is_source", "label_of", "load_object", "parse_source", "space_label"]

_ATTRIBUTE = re.compile(r"[A-Za-z_]\w*")
_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def is_source(text: str) -> bool:
    """Whether `text` names code (`x.py:NAME`, `pkg.mod:NAME`) rather than a built-in name or a data file."""
    target, colon, attribute = text.rpartition(":")
    return bool(colon and target and _ATTRIBUTE.fullmatch(attribute)
                and (target.endswith(".py") or _MODULE.fullmatch(target)))


def label_of(text: str) -> str:
    """A short, folder-safe name for run ids and reports, from the name alone (no file is read): `space-build_model`
    for `.../space.py:build_model` or `pkg.space:build_model`, `digits` for a data file `.../digits.npz`."""
    if is_source(text):
        target, _, attribute = text.rpartition(":")
        stem = Path(target).stem if target.endswith(".py") else target.rsplit(".", 1)[-1]
        text = f"{stem}-{attribute}"
    else:
        text = Path(text).stem
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def space_label(space: str, data: str | None) -> str:
    """The name of a space on its data in run ids and table folders: a built-in space's own name, a user's
    `label_of`, plus the user's data's label when there is one (`mlp-build_model-digits-load`)."""
    label = label_of(space) if is_source(space) else space
    return label if data is None else f"{label}-{label_of(data)}"


@dataclasses.dataclass(frozen=True)
class Source:
    """A named object in a Python file.

    Attributes:
        spec: the name as the user gave it (`examples/digits/space.py:build_model`), kept in the run's config.
        path: the source file.
        attribute: the object's name in it.
        module: the module name for `package.module:NAME`, None for a file path.
    """

    spec: str
    path: Path
    attribute: str
    module: str | None = None

    @property
    def label(self) -> str:
        return label_of(self.spec)

    def fingerprint(self) -> str:
        """sha256 of the source file's bytes (first 16 hex digits): what an edit changes.

        Raises:
            ConfigError: the file cannot be read.
        """
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path} (named by {self.spec}): {exc.strerror or exc}") from None


def parse_source(spec: str, *, what: str) -> Source:
    """Find the file of `FILE.py:NAME` or `package.module:NAME` without running it.

    Args:
        spec: the name as given on the command line.
        what: what the code is for ("space", "data"), for the error messages.

    Raises:
        ConfigError: not of either form, or the file or module does not exist.
    """
    target, _, attribute = spec.rpartition(":")
    if not is_source(spec):
        raise ConfigError(f"--{what} {spec!r} is neither FILE.py:NAME nor package.module:NAME (NAME: a Python name)")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ConfigError(f"--{what} {spec}: {path} does not exist")
        return Source(spec, path, attribute)
    try:
        found = importlib.util.find_spec(target)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"--{what} {spec}: cannot find module {target} ({exc})") from None
    if found is None or found.origin is None or not found.origin.endswith(".py"):
        raise ConfigError(f"--{what} {spec}: no Python module {target} on the path (for a file, give FILE.py:NAME)")
    return Source(spec, Path(found.origin), attribute, module=target)


def load_object(source: Source, *, what: str) -> Any:
    """Import the source's module and return the named object: the user's code runs here.

    Raises:
        ConfigError: the module raises while it is imported, or has no such name; one line with the cause.
    """
    name = source.module or f"fmnist_bench_user_{what}_{source.label}"
    try:
        if source.module is not None:
            module = importlib.import_module(source.module)
        else:
            spec = importlib.util.spec_from_file_location(name, source.path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"--{what} {source.spec}: {source.path} cannot be imported as a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look a module up by name
            spec.loader.exec_module(module)
    except ConfigError:
        raise
    except Exception as exc:  # the user's module failed on import: one line that names it and the cause
        sys.modules.pop(name, None)
        raise ConfigError(f"--{what} {source.spec} does not import: {type(exc).__name__}: {exc}") from None
    try:
        return getattr(module, source.attribute)
    except AttributeError:
        raise ConfigError(f"--{what} {source.spec}: {source.path} defines no {source.attribute!r}") from None
