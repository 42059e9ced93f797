"""The built wheel installs one import package, rnn_tui, with its stylesheet, and runs from anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PIP = (sys.executable, "-m", "pip")


def tracked_source(dest: Path) -> Path:
    """A copy of the files git knows (committed or not, never ignored ones): a clean build tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the source files")
    source = tracked_source(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("rnn_tui-*.whl")
    return built


def test_the_wheel_holds_only_the_rnn_tui_package_and_its_stylesheet(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"rnn_tui"}
    assert "rnn_tui/tui/app.tcss" in names
    assert "rnn_tui/tui/web/app_index.html" in names  # rnn-tui serve's page template
    # every package folder of the repository is in the wheel, with every module in it
    for folder in ("engine", "corpora", "tui"):
        for module in (REPO_ROOT / folder).rglob("*.py"):
            assert f"rnn_tui/{module.relative_to(REPO_ROOT).as_posix()}" in names, module
    assert "rnn_tui/__main__.py" in names


def test_the_installed_wheel_runs_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # the dependencies come from this interpreter's site-packages: no download in the test
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = next((env_dir / "lib").glob("python*/site-packages"))
    installed = {p.name for p in site.iterdir() if p.name != "__pycache__"}
    ours = {n for n in installed if n.startswith("rnn_tui")}
    assert ours == {"rnn_tui", next(n for n in ours if n.endswith(".dist-info"))}
    assert not installed & {"engine", "tui", "corpora"}
    assert (site / "rnn_tui" / "tui" / "app.tcss").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import rnn_tui.engine, rnn_tui.tui.app; print(rnn_tui.tui.app.__file__)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(site)  # the wheel, not this checkout
    helped = subprocess.run(
        [str(env_dir / "bin" / "rnn-tui"), "--help"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    assert "usage: rnn-tui" in helped.stdout
    module = subprocess.run(
        [str(python), "-m", "rnn_tui", "--help"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert module.returncode == 0 and "usage: rnn-tui" in module.stdout, module.stderr
