"""The one C compile helper, for the host and for boards, and the one reader of ELF section sizes.

Generated C and the runtime always compile with `-std=c99 -Wall -Wextra -Werror` (plus sanitizers
in tests on the host); a board build adds the core flags from its board file (`Board.cflags()`).
Sizes come from `size -A` (the cross toolchain's `arm-none-eabi-size` for boards). A failed tool
run is one line: what was being done, and the compiler's first error with its file and line.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
from pathlib import Path

from edgepipe_base.errors import EdgepipeError

WARNINGS = ["-Wall", "-Wextra", "-Werror"]
STD = "c99"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


class BuildError(EdgepipeError):
    """A compile, link or size run failed; the message has the tool's first error."""


def run_tool(cmd: list, what: str) -> str:
    """Run a compiler/linker/binutils command; return its stdout, or raise BuildError in one line."""
    cmd = [str(c) for c in cmd]
    if shutil.which(cmd[0]) is None:
        raise BuildError(f"{what}: '{cmd[0]}' not found; install it with `make setup` "
                         f"(see README.md)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        out = (proc.stderr or proc.stdout).strip()
        overflow = re.search(r"region `(\w+)' overflowed by (\d+) bytes", out)
        if overflow:
            raise BuildError(f"{what}: does not fit: region {overflow.group(1)} overflowed by "
                             f"{overflow.group(2)} bytes")
        lines = out.splitlines()
        first = next((ln for ln in lines if re.search(r"\berror\b", ln)), lines[0] if lines else "")
        raise BuildError(f"{what}: {Path(cmd[0]).name} failed: {first.strip() or 'no output'}")
    return proc.stdout


def _cflags(std: str, opt: str, include_dirs, defines, flags) -> list[str]:
    return [f"-std={std}", *WARNINGS, opt, *flags, *[f"-I{d}" for d in include_dirs],
            *[f"-D{d}" for d in defines]]


def compile_objects(sources, out_dir, include_dirs=(), flags=(), cc="gcc", opt="-O2",
                    std: str = STD, defines=(), where: str = "") -> list[Path]:
    """Compile each source to an object file in out_dir, warnings as errors. `flags` carries the
    core flags for a board (Board.cflags()) and anything else; `std` is c99 for generated code and
    the runtime (board support code with inline asm may ask for gnu11)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs, seen = [], set()
    for src in sources:
        src = Path(src)
        name = src.stem if src.stem not in seen else f"{src.stem}_{len(seen)}"
        seen.add(name)
        obj = out_dir / f"{name}.o"
        jobs.append(([cc, *_cflags(std, opt, include_dirs, defines, flags), "-c", src, "-o", obj],
                     f"compiling {src.name}{' for ' + where if where else ''}", obj))
    # one compiler per core; the first failing source (in source order) is the error reported
    with concurrent.futures.ThreadPoolExecutor(max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        list(pool.map(lambda job: run_tool(job[0], job[1]), jobs))
    return [obj for _, _, obj in jobs]


def compile_host(sources, output, include_dirs=(), defines=(), sanitize=False, opt="-O2",
                 cc="gcc", extra=()) -> Path:
    """Compile and link C sources (and object files compiled with the same flags) into a host
    executable."""
    flags = [*(SANITIZE + ["-g"] if sanitize else []), *extra]
    run_tool([cc, *_cflags(STD, opt, include_dirs, defines, flags), *sources, "-o", output],
             f"building {Path(output).name}")
    return Path(output)


# --- sizes --------------------------------------------------------------------------------------

def sections(elf, size_tool: str = "size") -> dict[str, tuple[int, int]]:
    """Section name -> (size, address) of an ELF (executable or object), from `size -A`."""
    out = run_tool([size_tool, "-A", elf], f"reading section sizes of {elf}")
    table = {}
    for line in out.splitlines():
        m = re.match(r"^(\.\S+)\s+(\d+)\s+(\d+)\s*$", line)
        if m:
            table[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return table


def kind_of(section: str) -> str | None:
    """text / rodata / data / bss for a loaded section; None for debug and metadata sections."""
    if section.startswith((".text", ".init", ".fini", ".plt", ".vectors", ".ARM.exidx")) \
            and not section.startswith((".init_array", ".fini_array")):
        return "text"
    if section.startswith(".rodata"):
        return "rodata"
    if section.startswith((".data", ".init_array", ".fini_array", ".got")):
        return "data"
    if section.startswith((".bss", ".tbss")):
        return "bss"
    return None


def sum_sizes(objs, size_tool: str = "size") -> dict[str, int]:
    total = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for o in objs:
        for name, (size, _) in sections(o, size_tool).items():
            kind = kind_of(name)
            if kind:
                total[kind] += size
    return total


def table_bytes(elf, prefix: str, nm_tool: str = "nm") -> dict[str, int]:
    """Bytes of a generated engine's constant tables as stored in an ELF (symbol sizes from
    `nm -S`), by kind: packed_1bit (`<prefix>_l<N>_bweights`: binary weights, 32 per word),
    int8_weights (`_weights`, constant tensors `_t<N>`), per_channel (bias, requantization
    multipliers and shifts, LCE's float multipliers/biases and thresholds, other tables)."""
    out = run_tool([nm_tool, "-S", "--defined-only", elf], f"reading symbols of {elf}")
    kinds = {"packed_1bit": 0, "int8_weights": 0, "per_channel": 0}
    pattern = re.compile(rf"^{re.escape(prefix)}_l\d+_(\w+)$")
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        m = pattern.match(parts[3])
        if m is None:
            continue
        size = int(parts[1], 16)
        suffix = m.group(1)
        if suffix == "bweights":
            kinds["packed_1bit"] += size
        elif suffix == "weights" or re.fullmatch(r"t\d+", suffix):
            kinds["int8_weights"] += size
        else:
            kinds["per_channel"] += size
    return kinds
