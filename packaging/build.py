"""Build the desktop bundle: `make dist` -> dist/Kindred-<version>-linux-x86_64.tar.gz.

PyInstaller (packaging/kindred.spec) makes a one-folder app; we add install.sh and the desktop
integration files (share/) and pack it. A JSON file beside the archive records what was built
from (a fingerprint of the sources and the installed packages), how long it took and the sizes:
`--reuse` skips the build when the fingerprint is unchanged (the packaging test and the
benchmark use it so one session builds once).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_ID = "io.github.kindred.Kindred"
SOURCES = ("app/kindred", "resources", "packaging", "pyproject.toml")


def version() -> str:
    sys.path.insert(0, str(ROOT / "app"))
    from kindred import __version__

    return __version__


def names(dist_dir: Path) -> tuple[str, Path, Path, Path]:
    name = f"Kindred-{version()}-linux-x86_64"
    return name, dist_dir / name, dist_dir / f"{name}.tar.gz", dist_dir / f"{name}.json"


def fingerprint() -> str:
    """What the bundle is made of: our sources, every installed package's version, and the
    llama.cpp libraries (rebuilt in place by scripts/bootstrap.sh without a version change)."""
    h = hashlib.sha256(sys.version.encode())
    for top in SOURCES:
        base = ROOT / top
        files = [base] if base.is_file() else sorted(
            p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        for p in files:
            h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    for d in sorted(importlib.metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        h.update(f"{d.metadata['Name']}=={d.version}\n".encode())
    import llama_cpp

    for lib in sorted(Path(llama_cpp.__file__).parent.glob("lib/*.so*")):
        st = lib.stat()
        h.update(f"{lib.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def folder_mb(path: Path) -> float:
    total = sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())
    return round(total / 1e6, 1)


def add_integration(folder: Path) -> None:
    """install.sh and the files it puts under the XDG data folder."""
    pkg = ROOT / "packaging"
    shutil.copy2(pkg / "install.sh", folder / "install.sh")
    (folder / "install.sh").chmod(0o755)
    share = folder / "share"
    for src, dest in ((pkg / f"{APP_ID}.desktop", share / "applications"),
                      (pkg / f"{APP_ID}.metainfo.xml", share / "metainfo"),
                      (pkg / "icons" / f"{APP_ID}.svg", share / "icons/hicolor/scalable/apps")):
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / src.name)


def strip_torch(folder: Path) -> None:
    """Strip torch's own libraries (libtorch_cpu: 415 -> 345 MB). Not every library: those
    that auditwheel patched (numpy.libs' OpenBLAS) no longer load once stripped ("ELF load
    command address/offset not page-aligned")."""
    libs = [p for p in (folder / "_internal" / "torch" / "lib").glob("lib*.so*")
            if p.name.startswith(("libtorch", "libc10", "libshm")) and not p.is_symlink()]
    if libs and shutil.which("strip"):
        subprocess.run(["strip", "--strip-unneeded", *map(str, libs)], check=True)


def smoke_test(folder: Path) -> dict[str, object]:
    """One training step inside the frozen app (`kindred --smoke-worker`), in a clean
    environment: a package the trainer imports without its data files (kernels' JSON, once)
    fails the build here, not in the person's first training."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LD_LIBRARY_PATH"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HOME=str(folder / ".smoke-home"))
    done = subprocess.run([str(folder / "kindred"), "--smoke-worker"], env=env, cwd=folder,
                          capture_output=True, text=True, timeout=600, check=False)
    shutil.rmtree(folder / ".smoke-home", ignore_errors=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"ok": False}
    if done.returncode != 0 or not result.get("ok"):
        raise SystemExit("The bundle cannot train: its smoke step failed "
                         f"({result.get('error') or done.stderr.strip()[-2000:]}).")
    return result


def pack(folder: Path, archive: Path) -> None:
    """tar | gzip -1: the libraries are mostly compressed machine code, where level 6 saves 5%
    of the size for twice the time (measured on this bundle: 300 MB of it in 12.8 s at -1,
    22.3 s at -6)."""
    tmp = archive.with_suffix(".part")
    with tmp.open("wb") as out:
        tar = subprocess.Popen(["tar", "-C", str(folder.parent), "-cf", "-", folder.name],
                               stdout=subprocess.PIPE)
        gz = subprocess.run(["gzip", "-1"], stdin=tar.stdout, stdout=out, check=True)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() or gz.returncode:
            raise SystemExit("packing the archive failed")
    tmp.replace(archive)


def source_state() -> dict[str, object]:
    """The commit the bundle is built from, and whether the working tree differed from it
    (the bundle packs the working tree: a release is built from a clean checkout)."""
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                              check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", *SOURCES)
    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(changed)}


def build(dist_dir: Path, reuse: bool) -> dict[str, object]:
    _, folder, archive, record_path = names(dist_dir)
    stamp = fingerprint()
    if reuse and archive.is_file() and folder.is_dir() and record_path.is_file():
        record = json.loads(record_path.read_text())
        if record.get("fingerprint") == stamp:
            return {**record, "reused": True}
    started = time.monotonic()
    work = ROOT / "build" / "pyinstaller"
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                    "--distpath", str(work / "dist"), "--workpath", str(work / "work"),
                    str(ROOT / "packaging" / "kindred.spec")], check=True, cwd=ROOT)
    pyinstaller_s = time.monotonic() - started
    shutil.rmtree(folder, ignore_errors=True)
    dist_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(str(work / "dist" / "Kindred"), folder)
    strip_torch(folder)
    smoke = smoke_test(folder)
    add_integration(folder)
    pack(folder, archive)
    state = source_state()
    if state["dirty"]:
        print("build.py: the working tree has uncommitted changes to the app; they are packed "
              "too (build a release from a clean checkout).", file=sys.stderr)
    record = {"archive": archive.name, "fingerprint": stamp, **state,
              "build_s": round(time.monotonic() - started, 1),
              "pyinstaller_s": round(pyinstaller_s, 1),
              "archive_mb": round(archive.stat().st_size / 1e6, 1),
              "unpacked_mb": folder_mb(folder), "smoke": smoke}
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    return {**record, "reused": False}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the existing bundle if nothing it is built from changed")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(json.dumps(build(args.dist.resolve(), args.reuse)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
