"""The built wheel is complete: installed in a fresh venv, ``fbcheck manifest`` renders the XML.

One slow test (a wheel build and a venv, a few seconds): it catches package data that
only exists in the checkout, such as a template read through ``parents[2]``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from addin.web.manifest import ADDIN_ID, render_manifest

REPO = Path(__file__).resolve().parents[1]
#: What a wheel is built from; everything else in the checkout stays out of it.
SOURCES = ("pyproject.toml", "README.md", "addin", "mock_server")
OFFICE_NS = "http://schemas.microsoft.com/office/appforoffice/1.1"

pytestmark = pytest.mark.slow


def copy_sources(target: Path) -> Path:
    """Copy what the wheel is built from, so the build leaves nothing in the checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    target.mkdir(parents=True)
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command to the end, failing the test with its output if it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FBCHECK_", "PYTHON"))}
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the sources."""
    root = tmp_path_factory.mktemp("wheel")
    source = copy_sources(root / "src")
    dist = root / "dist"
    run(sys.executable, "-m", "pip", "wheel", source, "--no-deps", "-q", "-w", dist, cwd=root)
    (built,) = dist.glob("fbcheck-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the wheel alone into a fresh venv that borrows this one's dependencies."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=env_dir
    ).stdout.strip()
    # A plain path in a .pth file is added to sys.path without running that folder's
    # own .pth files, so this venv's editable install of fbcheck stays inactive.
    borrowed = dict.fromkeys((sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]))
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheel,
        cwd=env_dir,
    )
    return env_dir


def test_wheel_holds_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "addin/web/templates/manifest.template.xml",
        "addin/data/sample_numbers.csv",
        "addin/engine/store/migrations/env.py",
        "addin/engine/store/migrations/script.py.mako",
        "addin/engine/store/migrations/README.md",
        "addin/engine/store/migrations/versions/rev0001_baseline.py",
        "addin/engine/store/migrations/versions/rev0002_pace_history.py",
        "addin/engine/store/migrations/versions/rev0003_people.py",
        "addin/engine/store/migrations/versions/rev0004_paid_by.py",
        "addin/static/taskpane.html",
        "addin/static/functions.json",
        "addin/static/icons/icon-80.png",
        "addin/py.typed",
        "mock_server/py.typed",
    }
    assert expected <= names, expected - names
    static = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "addin" / "static").rglob("*")
        if path.is_file()
    }
    assert static <= names, static - names
    assert not {name for name in names if name.startswith(("tests/", "manifest/", "bench/"))}


def test_installed_wheel_renders_the_manifest(installed: Path, tmp_path: Path) -> None:
    python = installed / "bin" / "python"
    where = run(python, "-c", "import addin.web.manifest as m; print(m.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout
    base = "https://localhost:9443"
    result = run(installed / "bin" / "fbcheck", "manifest", "--base-url", base, cwd=tmp_path)
    assert result.stdout == render_manifest(base)
    document = etree.fromstring(result.stdout.encode("utf-8"))
    assert document.tag == f"{{{OFFICE_NS}}}OfficeApp"
    assert document.findtext(f"{{{OFFICE_NS}}}Id") not in (None, ADDIN_ID)
    urls = document.xpath("//@DefaultValue[contains(., '://')]")
    assert isinstance(urls, list)
    assert urls
    assert all(str(url).startswith(base + "/") for url in urls)


def test_installed_wheel_creates_its_store_from_the_shipped_migrations(
    installed: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "FBCHECK_DATA_DIR": str(tmp_path / "data")}
    env.pop("FBCHECK_DATABASE_URL", None)
    fbcheck = str(installed / "bin" / "fbcheck")
    result = subprocess.run(
        [fbcheck, "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "upgraded from an empty database to revision" in result.stdout
    again = subprocess.run(
        [fbcheck, "db", "upgrade"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert "nothing to do" in again.stdout, again.stdout + again.stderr


def test_installed_wheel_serves_its_static_files_and_sample(
    installed: Path, tmp_path: Path
) -> None:
    code = (
        "from addin.engine.sources import bundled_sample\n"
        "from addin.web.views.pages import STATIC_DIR\n"
        "print(bundled_sample().is_file(), (STATIC_DIR / 'taskpane.html').is_file())\n"
        "print(bundled_sample())\n"
    )
    result = run(installed / "bin" / "python", "-c", code, cwd=tmp_path)
    found, sample = result.stdout.splitlines()
    assert found == "True True"
    assert Path(sample).is_relative_to(installed)
