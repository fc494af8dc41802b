"""The Arm64 Python that the `arm64-qemu` device runs: a sysroot built once by `make setup`.

Debian's arm64 Python 3.11 and the few shared libraries it and LiteRT load are downloaded as .debs
(`apt-get download`, after `dpkg --add-architecture arm64`) and unpacked with `dpkg -x`: installing
`python3.11:arm64` with apt would replace the host's own Python. numpy and the LiteRT aarch64 wheel
come from pip for the aarch64 platform and are unpacked into the sysroot's site-packages.
`qemu-aarch64 -cpu cortex-a76 -L SYSROOT SYSROOT/usr/bin/python3.11` then runs it.

QEMU's `-L` prefix also redirects /proc/cpuinfo and /sys/devices/system/cpu reads into the sysroot:
LiteRT's CPU detection reads them, and on the x86 host's files it crashes in `Interpreter()`. So the
sysroot carries an Arm cpuinfo that matches the emulated Cortex-A76 (fp asimd ... asimddp); with
QEMU's default `-cpu max` XNNPACK gives wrong int8 outputs (see STACK.md).

    python -m pipeline.bench.arm64_sysroot [SYSROOT]     # build (no-op when the stamp is there)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from edgepipe_base.errors import EdgepipeError

REPO = Path(__file__).resolve().parent.parent.parent
DEFAULT = REPO / ".venv" / "arm64-sysroot"
DEBS = ("python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "libgcc-s1",
        "libstdc++6", "zlib1g", "libexpat1", "libffi8", "libbz2-1.0", "liblzma5", "libssl3",
        "libcrypt1", "libuuid1")
WHEELS = ("ai-edge-litert==2.3.0", "numpy==1.26.4")
# unpacked but not needed to run a .tflite on the CPU: keeps the sysroot ~40 MB smaller
SKIP_IN_WHEELS = ("libLiteRtWebGpuAccelerator.so", "ai_edge_litert/tools/", "numpy/tests/",
                  "/tests/", "numpy/f2py/", "numpy/distutils/")
QEMU_CPU = "cortex-a76"
CORES = 4
CPUINFO_FEATURES = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
SITE = "opt/edgepipe/site-packages"
PYTHON = "usr/bin/python3.11"
STAMP = ".edgepipe-sysroot"


def sysroot() -> Path:
    return Path(os.environ.get("EDGEPIPE_ARM64_SYSROOT", DEFAULT))


def ready(root: Path | None = None) -> bool:
    return ((root or sysroot()) / STAMP).is_file()


def require(root: Path | None = None) -> Path:
    root = root or sysroot()
    if not ready(root):
        raise EdgepipeError(f"arm64-qemu: no Arm64 sysroot at {root}; build it once with `make setup` "
                            f"(or `.venv/bin/python -m pipeline.bench.arm64_sysroot`)")
    if shutil.which("qemu-aarch64") is None:
        raise EdgepipeError("arm64-qemu: qemu-aarch64 not found; install Debian package qemu-user "
                            "(`make setup`)")
    return root


def command(root: Path) -> list[str]:
    """The argv prefix that runs the sysroot's Python under qemu-aarch64 (user mode)."""
    return ["qemu-aarch64", "-cpu", QEMU_CPU, "-L", str(root), "-E", f"PYTHONPATH=/{SITE}",
            "-E", "PYTHONDONTWRITEBYTECODE=1", str(root / PYTHON)]


def _cpuinfo() -> str:
    # a Cortex-A76 (implementer 0x41, part 0xd0b), as a phone's kernel prints it
    one = ("processor\t: {n}\nBogoMIPS\t: 50.00\nFeatures\t: " + CPUINFO_FEATURES + "\n"
           "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\n"
           "CPU revision\t: 1\n\n")
    return "".join(one.format(n=n) for n in range(CORES))


def _run(cmd: list[str], what: str, cwd=None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EdgepipeError(f"arm64 sysroot: {what} failed: {last[0]}")


def build(root: Path | None = None) -> Path:
    """Build the sysroot at `root` (once: a stamp file marks it finished)."""
    root = Path(root or sysroot())
    if ready(root):
        return root
    for tool, pkg in (("apt-get", "apt"), ("dpkg", "dpkg")):
        if shutil.which(tool) is None:
            raise EdgepipeError(f"arm64 sysroot: '{tool}' not found (Debian package {pkg})")
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="arm64-sysroot-"))
    part = root.with_name(root.name + ".partial")
    shutil.rmtree(part, ignore_errors=True)
    part.mkdir(parents=True)
    try:
        debs = tmp / "debs"
        debs.mkdir()
        os.chmod(tmp, 0o755)
        os.chmod(debs, 0o777)            # apt's sandbox user writes here
        _run(["apt-get", "download", *[f"{p}:arm64" for p in DEBS]],
             "apt-get download (needs `dpkg --add-architecture arm64 && apt-get update`)", cwd=debs)
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(part)], f"dpkg -x {deb.name}")
        wheels = tmp / "wheels"
        _run([sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "--no-deps",
              "--platform", "manylinux_2_27_aarch64", "--platform", "manylinux2014_aarch64",
              "--python-version", "3.11", "-d", str(wheels), *WHEELS], "pip download (aarch64 wheels)")
        site = part / SITE
        for whl in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(whl) as z:
                for info in z.infolist():
                    if not any(s in info.filename for s in SKIP_IN_WHEELS):
                        z.extract(info, site)
                        mode = info.external_attr >> 16
                        if mode:
                            os.chmod(site / info.filename, mode & 0o777)
        if sys.version_info[:2] == (3, 11):    # same bytecode as the Arm64 3.11: imports 2x faster under qemu
            _run([sys.executable, "-m", "compileall", "-q", "-j0", str(part / "usr/lib/python3.11"), str(site)],
                 "compileall")
        for doc in ("usr/share/doc", "usr/share/man", "usr/share/lintian", "usr/share/locale"):
            shutil.rmtree(part / doc, ignore_errors=True)
        # what LiteRT's CPU detection reads, redirected into the sysroot by qemu's -L
        (part / "proc").mkdir(exist_ok=True)
        (part / "proc" / "cpuinfo").write_text(_cpuinfo())
        cpu = part / "sys" / "devices" / "system" / "cpu"
        cpu.mkdir(parents=True, exist_ok=True)
        for name in ("possible", "present", "online"):
            (cpu / name).write_text(f"0-{CORES - 1}\n")
        (part / STAMP).write_text(f"debs: {' '.join(DEBS)}\nwheels: {' '.join(WHEELS)}\n"
                                  f"built in {time.monotonic() - t0:.0f} s\n")
        shutil.rmtree(root, ignore_errors=True)
        part.rename(root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(part, ignore_errors=True)
    return root


def size_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and not f.is_symlink())


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else sysroot()
    try:
        if ready(root):
            print(f"arm64 sysroot: {root} (ready)")
            return 0
        t0 = time.monotonic()
        build(root)
    except EdgepipeError as exc:
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return 2
    print(f"arm64 sysroot: {root}: {size_bytes(root) / 2**20:.0f} MiB in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
