"""Which TensorFlow the `cpu` extra installs on each platform, checked without those machines.

pip's `--platform` cannot check this alone: it picks wheels for the named platform but evaluates environment
markers for the machine it runs on. So the markers of the installed project's metadata are evaluated here for each
platform and Python (offline), and the `network` tests then ask the package index, through pip's dry run with
`--platform/--python-version/--only-binary`, for a wheel of the distribution the markers chose.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYTHONS = ("3.10", "3.11", "3.12", "3.13")

# (marker environment, pip --platform tags, the TensorFlow distribution the README promises there)
PLATFORMS: dict[str, tuple[dict[str, str], tuple[str, ...], str]] = {
    "linux-x86_64": ({"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"},
                     ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_27_x86_64",
                      "manylinux_2_28_x86_64"), "tensorflow-cpu"),
    "linux-aarch64": ({"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64"},
                      ("manylinux_2_17_aarch64", "manylinux2014_aarch64", "manylinux_2_27_aarch64",
                       "manylinux_2_28_aarch64"), "tensorflow"),
    "macos-arm64": ({"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
                    ("macosx_14_0_arm64",), "tensorflow"),
    "windows-amd64": ({"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
                      ("win_amd64",), "tensorflow-cpu"),
}


def _requirements_for(platform: str, python: str, extra: str) -> list[Requirement]:
    """The project's requirements that pip would install on `platform` with `python` and `extra`."""
    environment = PLATFORMS[platform][0] | {"python_version": python, "python_full_version": f"{python}.0",
                                             "os_name": "nt" if platform.startswith("windows") else "posix",
                                             "implementation_name": "cpython", "extra": extra}
    requirements = [Requirement(r) for r in importlib.metadata.requires("fmnist-bench") or []]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(environment)]


def _tensorflows(requirements: list[Requirement]) -> list[Requirement]:
    return [r for r in requirements if r.name in ("tensorflow", "tensorflow-cpu")]


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_cpu_extra_picks_exactly_one_tensorflow_per_platform(platform: str, python: str) -> None:
    chosen = _tensorflows(_requirements_for(platform, python, "cpu"))
    assert [r.name for r in chosen] == [PLATFORMS[platform][2]]


@pytest.mark.parametrize("python", PYTHONS)
def test_tomli_is_required_only_where_tomllib_is_missing(python: str) -> None:
    names = {r.name for r in _requirements_for("linux-x86_64", python, "")}
    assert ("tomli" in names) == (python == "3.10")


def test_python_3_10_to_3_13_are_accepted() -> None:
    from packaging.specifiers import SpecifierSet

    accepted = SpecifierSet(importlib.metadata.metadata("fmnist-bench")["Requires-Python"])
    assert [v for v in ("3.9", *PYTHONS, "3.14") if f"{v}.0" in accepted] == list(PYTHONS)


@pytest.mark.network
@pytest.mark.slow
@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_package_index_has_a_wheel_of_the_chosen_tensorflow(platform: str, python: str, tmp_path: Path) -> None:
    (tensorflow,) = _tensorflows(_requirements_for(platform, python, "cpu"))
    report = tmp_path / "report.json"
    tags = [arg for tag in PLATFORMS[platform][1] for arg in ("--platform", tag)]
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                           "--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
                           *tags, "--target", str(tmp_path / "target"), "--report", str(report),
                           f"{tensorflow.name}{tensorflow.specifier}"],  # no marker: pip reads it for this host
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (install,) = json.loads(report.read_text())["install"]
    assert install["metadata"]["name"].replace("_", "-").lower() == tensorflow.name
    assert install["metadata"]["version"] in tensorflow.specifier
