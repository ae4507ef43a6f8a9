"""Which TensorFlow the `cpu` extra installs on each platform, checked without those machines.

pip's `--platform` cannot check this alone: it picks wheels for the named platform but evaluates environment
markers for the machine it runs on. So the markers of the installed project's metadata are evaluated here for each
platform and Python (offline), and the `network` tests then ask the package index, through pip's dry run with
`--platform/--python-version/--only-binary`, for a wheel of the distribution the markers chose.
"""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
ROOT = Path(__file__).resolve().parents[1]

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


def _tox_ini() -> configparser.ConfigParser:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    return tox


def _tox_matrix() -> tuple[list[str], dict[str, str]]:
    """tox.ini's envlist, and each env's `base_python` where a factor condition sets it."""
    tox = _tox_ini()
    base_pythons = {}
    for line in tox["testenv"].get("base_python", "").strip().splitlines():
        factors, python = line.split(":")
        base_pythons |= {factor.strip(): python.strip() for factor in factors.split(",")}
    return [env.strip() for env in tox["tox"]["envlist"].split(",")], base_pythons


def test_the_tox_matrix_has_every_supported_python_and_every_tensorflow_minor_the_extra_allows() -> None:
    # so that widening the `cpu` extra's TensorFlow range or the supported Pythons cannot leave the matrix behind
    envs, base_pythons = _tox_matrix()
    (tensorflow,) = _tensorflows(_requirements_for("linux-x86_64", "3.11", "cpu"))
    tf_envs = [f"tf2{minor}" for minor in range(100) if f"2.{minor}.0" in tensorflow.specifier]
    assert [env for env in envs if env.startswith("tf")] == tf_envs
    pythons = {f"3.{env[3:]}" for env in envs if env.startswith("py3")}
    pythons |= {base_pythons[env].removeprefix("python") for env in tf_envs}
    assert sorted(pythons) == list(PYTHONS)
    assert "bench" in envs


def test_ci_runs_the_oldest_tensorflow_of_the_matrix() -> None:
    # the Keras 2 stack is the one most likely to break unseen (issue #29); CI runs it through `tox -e <oldest>-ci`
    oldest = next(env for env in _tox_matrix()[0] if env.startswith("tf"))
    assert _tox_ini()[f"testenv:{oldest}-ci"]["env_dir"] == "{work_dir}/" + oldest
    assert f"\ntox -e {oldest}-ci\n" in (ROOT / ".ci" / "run").read_text()


def _test_commands(text: str) -> list[str]:
    """The test commands among a script's or a README code block's lines: pytest and tox runs, comments cut off."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line.startswith(("python -m pytest", "pytest", "tox "))]


def test_ci_runs_exactly_the_readmes_test_commands() -> None:
    # CI's verdict is only the README's if it runs the same commands: a flag added on one side alone fails here
    readme = (ROOT / "README.md").read_text()
    development = readme[readme.index("## Development"):]
    block = development[development.index("```bash"):development.index("```", development.index("```bash") + 3)]
    ci = _test_commands((ROOT / ".ci" / "run").read_text())
    assert ci == _test_commands(block)
    quick_start = readme[readme.index("## Quick start"):readme.index("## Quick start") + 2000]
    assert ci[0] in quick_start.split("```")[1].splitlines()


@pytest.mark.network
@pytest.mark.slow
def test_the_package_index_has_a_wheel_of_the_chosen_tensorflow_for_every_platform_and_python(tmp_path: Path) -> None:
    """One pip dry run per platform and Python, all at once: each waits on the index, not on a core (one after the
    other they took about half a minute of a CI worker)."""
    dry_runs = {}
    for platform in sorted(PLATFORMS):
        for python in PYTHONS:
            (tensorflow,) = _tensorflows(_requirements_for(platform, python, "cpu"))
            folder = tmp_path / f"{platform}-{python}"
            folder.mkdir()
            tags = [arg for tag in PLATFORMS[platform][1] for arg in ("--platform", tag)]
            command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                       "--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version", python, *tags,
                       "--target", str(folder / "target"), "--report", str(folder / "report.json"),
                       f"{tensorflow.name}{tensorflow.specifier}"]  # no marker: pip reads it for this host
            dry_runs[platform, python] = (tensorflow, folder, subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    failures = []
    for (platform, python), (tensorflow, folder, proc) in dry_runs.items():
        _, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            failures.append(f"{platform} Python {python}: {err[-500:]}")
            continue
        (install,) = json.loads((folder / "report.json").read_text())["install"]
        if (install["metadata"]["name"].replace("_", "-").lower() != tensorflow.name
                or install["metadata"]["version"] not in tensorflow.specifier):
            failures.append(f"{platform} Python {python}: pip chose {install['metadata']['name']} "
                            f"{install['metadata']['version']} for {tensorflow}")
    assert not failures, "\n".join(failures)
