"""Compile helpers: the host C compiler with warnings as errors (sanitizers in tests), and ELF
section sizes read with `size -A` (the cross toolchain's for boards)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pipeline.errors import EdgepipeError

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
CORTEX_M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def _run(cmd: list[str]) -> None:
    if shutil.which(cmd[0]) is None:
        raise EdgepipeError(f"compiler '{cmd[0]}' not found; install it (see STACK.md)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise EdgepipeError(f"{cmd[0]} failed: {' '.join(map(str, cmd))}\n{proc.stderr.strip()}")


def compile_host(sources, output, include_dirs=(), defines=(), sanitize=False, opt="-O2",
                 cc="gcc", extra=()) -> Path:
    """Compile and link C sources into a host executable."""
    cmd = [cc, *WARNINGS, opt, *(SANITIZE + ["-g"] if sanitize else [])]
    cmd += [f"-I{d}" for d in include_dirs] + [f"-D{d}" for d in defines] + list(extra)
    cmd += [str(s) for s in sources] + ["-o", str(output)]
    _run(cmd)
    return Path(output)


def compile_objects(sources, out_dir, include_dirs=(), flags=(), cc="gcc", opt="-O2") -> list[Path]:
    """Compile each source to an object file (for size measurements and cross builds)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    objs = []
    for src in sources:
        obj = out_dir / (Path(src).stem + ".o")
        _run([cc, *WARNINGS, opt, *flags, *[f"-I{d}" for d in include_dirs], "-c", str(src), "-o", str(obj)])
        objs.append(obj)
    return objs


def elf_sizes(elf, size_tool: str = "size") -> dict[str, int]:
    """text/rodata/data/bss bytes of an ELF (executable or object) from `size -A`.

    Sections are grouped by name: .text* (and .init/.fini/.plt code) -> text, .rodata* -> rodata,
    .data* / .init_array / .got -> data, .bss* / COMMON -> bss; debug and metadata sections are
    ignored."""
    if shutil.which(size_tool) is None:
        raise EdgepipeError(f"'{size_tool}' not found; install binutils for this target")
    proc = subprocess.run([size_tool, "-A", str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise EdgepipeError(f"{size_tool} -A {elf} failed: {proc.stderr.strip()}")
    sizes = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(".") or not parts[1].isdigit():
            continue
        name, size = parts[0], int(parts[1])
        if name.startswith((".text", ".init", ".fini", ".plt")) and not name.startswith(".init_array"):
            sizes["text"] += size
        elif name.startswith(".rodata"):
            sizes["rodata"] += size
        elif name.startswith((".data", ".init_array", ".fini_array", ".got")):
            sizes["data"] += size
        elif name.startswith((".bss", ".tbss")):
            sizes["bss"] += size
    return sizes


def sum_sizes(objs, size_tool: str = "size") -> dict[str, int]:
    total = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for o in objs:
        for k, v in elf_sizes(o, size_tool).items():
            total[k] += v
    return total
