"""TensorFlow Lite Micro source trees: where they are, which engine each one gives, and the
library of exactly the sources a model needs, compiled once per (tree, core, flags) and cached.

A tree is what TFLM's own `create_tflm_tree.py` writes (see README.md, "TFLM engines"):
`tflm` needs one made with the reference kernels, `tflm-cmsis-nn` one made with
`OPTIMIZED_KERNEL_DIR=cmsis_nn` (it has `tensorflow/lite/micro/kernels/cmsis_nn/`). `TFLM_DIR`
names either one tree or a folder holding `tflm-ref/` and/or `tflm-cmsis-nn/`. Without one, the
TFLM engines are not offered, and `unavailable()` says why.

Building every source of a tree takes ~5 minutes per core on 2 cores, so nothing is built that a
link does not ask for: the framework sources (interpreter, allocator, planner, flatbuffer bridge)
plus the files defining `Register_<OP>` for the model's ops are compiled first; then the firmware
is linked against the library, and each symbol the link reports undefined is looked up in the
tree (the .cc/.c file that defines that function) and compiled, until the link succeeds. Every
object lands in a cache folder keyed by the tree's content hash, the compiler version and the
flags (`~/.cache/edgepipe/tflm/<key>/`, or `$EDGEPIPE_CACHE/tflm/`): the library depends on none
of a run's inputs, so every run, model and test on this machine shares it, and a second model only
compiles the kernels the first did not need. Writers take a file lock, objects are renamed into
place whole, so concurrent builds (boards benchmarked side by side) never see half an object.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgepipe_base.errors import EdgepipeError

from . import build as build_mod

CXX = "arm-none-eabi-g++"
CC = "arm-none-eabi-gcc"
AR = "arm-none-eabi-ar"

ENGINES = ("edgepipe", "tflm", "tflm-cmsis-nn")
TFLM_ENGINES = ("tflm", "tflm-cmsis-nn")
SUBDIR = {"tflm": "tflm-ref", "tflm-cmsis-nn": "tflm-cmsis-nn"}
HOW_TO = ("make one with TFLM's own tool: `git clone https://github.com/tensorflow/tflite-micro && "
          "cd tflite-micro && python3 tensorflow/lite/micro/tools/project_generation/create_tflm_tree.py "
          "--makefile_options=\"TARGET=cortex_m_generic TARGET_ARCH=cortex-m4{opt}\" /path/to/{sub}`, "
          "then set TFLM_DIR=/path/to/{sub} (README.md, \"TFLM engines\")")

INCLUDES = (".", "third_party/gemmlowp", "third_party/flatbuffers/include", "third_party/kissfft",
            "third_party/kissfft/tools", "third_party/ruy", "third_party/cmsis_nn",
            "third_party/cmsis_nn/Include", "third_party", "third_party/cmsis/CMSIS/Core/Include")
# -O2 for everything, as edgepipe's engine is built; error strings stripped (the firmware has no
# console for them: the UART carries the benchmark protocol), as TFLM's release builds do.
CXXFLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
            "-fno-unwind-tables", "-ffunction-sections", "-fdata-sections", "-O2",
            "-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_STRIP_ERROR_STRINGS")
CFLAGS = ("-std=c17", "-ffunction-sections", "-fdata-sections", "-O2")
# The interpreter and what every model needs: the TFLM sources a MicroInterpreter-only firmware
# pulls from the library (read from the link map of a one-op model); the rest comes when a link
# asks for it (link_with_closure).
FRAMEWORK = tuple(f"tensorflow/{p}.cc" for p in (
    "compiler/mlir/lite/schema/schema_utils", "lite/core/api/flatbuffer_conversions", "lite/core/c/common",
    "lite/kernels/internal/common", "lite/kernels/internal/portable_tensor_utils",
    "lite/kernels/internal/quantization_util", "lite/kernels/internal/tensor_ctypes", "lite/kernels/kernel_util",
    "lite/micro/arena_allocator/non_persistent_arena_buffer_allocator",
    "lite/micro/arena_allocator/persistent_arena_buffer_allocator",
    "lite/micro/arena_allocator/single_arena_buffer_allocator", "lite/micro/flatbuffer_utils",
    "lite/micro/kernels/kernel_util", "lite/micro/memory_helpers", "lite/micro/memory_planner/greedy_memory_planner",
    "lite/micro/memory_planner/linear_memory_planner", "lite/micro/micro_allocation_info",
    "lite/micro/micro_allocator", "lite/micro/micro_context", "lite/micro/micro_interpreter",
    "lite/micro/micro_interpreter_context", "lite/micro/micro_interpreter_graph", "lite/micro/micro_op_resolver",
    "lite/micro/micro_resource_variable", "lite/micro/micro_utils",
    "lite/micro/tflite_bridge/flatbuffer_conversions_bridge", "lite/micro/tflite_bridge/micro_error_reporter"))
# test scaffolding and the platform hooks the firmware replaces (debug_log, micro_time)
EXCLUDE = re.compile(r"(_test\.cc$|test_helper|mock_|fake_|cortex_m_generic/|/testing/|/tools/|/examples/"
                     r"|/benchmarks/|/python/|system_setup\.cc$)")
MAX_LINK_ROUNDS = 12


@dataclass(frozen=True)
class Tree:
    engine: str          # tflm | tflm-cmsis-nn
    root: Path

    @property
    def cmsis_nn(self) -> bool:
        return self.engine == "tflm-cmsis-nn"


def _kind(root: Path) -> str | None:
    if not (root / "tensorflow" / "lite" / "micro" / "micro_interpreter.h").is_file():
        return None
    return "tflm-cmsis-nn" if (root / "tensorflow/lite/micro/kernels/cmsis_nn").is_dir() else "tflm"


def _search_roots() -> list[Path]:
    base = os.environ.get("TFLM_DIR")
    if not base:
        return []
    base = Path(base).expanduser()
    return [base, *(base / s for s in SUBDIR.values())]


def find(engine: str) -> Tree | None:
    """The tree for `engine` (tflm or tflm-cmsis-nn), or None."""
    for root in _search_roots():
        if root.is_dir() and _kind(root) == engine:
            return Tree(engine, root.resolve())
    return None


def unavailable(engine: str) -> str | None:
    """Why `engine` cannot be built here (one line), or None when it can."""
    if engine == "edgepipe":
        return None
    if engine not in TFLM_ENGINES:
        raise EdgepipeError(f"engine '{engine}': valid engines are {', '.join(ENGINES)}")
    if find(engine) is not None:
        return None
    base = os.environ.get("TFLM_DIR")
    opt = " OPTIMIZED_KERNEL_DIR=cmsis_nn" if engine == "tflm-cmsis-nn" else ""
    how = HOW_TO.format(opt=opt, sub=SUBDIR[engine])
    if not base:
        return f"engine {engine} needs a TensorFlow Lite Micro source tree and TFLM_DIR is not set; {how}"
    kind = "reference kernels" if engine == "tflm" else "CMSIS-NN kernels"
    return (f"engine {engine} needs a TFLM source tree with {kind}; TFLM_DIR={base} has none "
            f"(neither it nor its {SUBDIR[engine]}/ is such a tree); {how}")


def available_engines() -> list[str]:
    return [e for e in ENGINES if unavailable(e) is None]


def check_engines(names) -> tuple[str, ...]:
    for n in names:
        if n not in ENGINES:
            from edgepipe_base.errors import UnknownName
            raise UnknownName("engine", n, ENGINES)
    return tuple(names)


# --- content hash and cache ---------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def tree_hash(root: Path) -> str:
    """sha256 over every source and header of the tree (paths and contents)."""
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.suffix in (".cc", ".c", ".h", ".hpp") and p.is_file()):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _tool_version(tool: str) -> str:
    try:
        return subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    except OSError:
        raise build_mod.BuildError(f"{tool} not found; install the Debian package gcc-arm-none-eabi "
                                   f"(`make setup`)") from None


def cache_root() -> Path:
    base = os.environ.get("EDGEPIPE_CACHE") or os.environ.get("XDG_CACHE_HOME")
    base = Path(base) if base else Path.home() / ".cache"
    return (base if os.environ.get("EDGEPIPE_CACHE") else base / "edgepipe") / "tflm"


def core_flags(tree: Tree, cpu_flags: list[str]) -> list[str]:
    return [*cpu_flags, *(["-DCMSIS_NN"] if tree.cmsis_nn else [])]


class Library:
    """The cached objects and archive of one tree for one core and flag set."""

    def __init__(self, tree: Tree, cpu_flags: list[str]):
        self.tree = tree
        self.flags = core_flags(tree, cpu_flags)
        key = hashlib.sha256("\n".join([tree_hash(tree.root), _tool_version(CXX), *self.flags,
                                        *CXXFLAGS, *CFLAGS]).encode()).hexdigest()[:16]
        self.key = key
        self.dir = cache_root() / f"{tree.engine}-{key}"
        self.archive = self.dir / "libtflm.a"
        self.includes = [tree.root / d for d in INCLUDES]
        self.compile_seconds = 0.0
        self.compiled: list[str] = []

    @contextlib.contextmanager
    def _lock(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _obj(self, rel: str) -> Path:
        return self.dir / "obj" / (rel.replace("/", "__") + ".o")

    def sources(self) -> list[str]:
        root = self.tree.root
        return sorted(str(p.relative_to(root)) for p in [*root.rglob("*.cc"), *root.rglob("*.c")]
                      if not EXCLUDE.search("/" + str(p.relative_to(root))))

    def framework(self) -> list[str]:
        return [rel for rel in FRAMEWORK if (self.tree.root / rel).is_file()]

    def ensure(self, rels: list[str]) -> bool:
        """Compile the sources in `rels` that are not cached yet (one compiler per core) and
        refresh the archive. Returns whether anything was compiled."""
        import concurrent.futures
        import time
        with self._lock():
            todo = [r for r in dict.fromkeys(rels) if not self._obj(r).exists()]
            if not todo:
                if not self.archive.exists() and any((self.dir / "obj").glob("*.o")):
                    self._archive()
                return False
            (self.dir / "obj").mkdir(parents=True, exist_ok=True)
            t0 = time.monotonic()

            def one(rel):
                obj = self._obj(rel)
                tmp = obj.with_suffix(f".{os.getpid()}.tmp")
                c = rel.endswith(".c")
                cmd = [CC if c else CXX, *(CFLAGS if c else CXXFLAGS), *self.flags,
                       *[f"-I{d}" for d in self.includes], "-c", self.tree.root / rel, "-o", tmp]
                build_mod.run_tool(cmd, f"compiling TFLM {rel} ({self.tree.engine})")
                os.replace(tmp, obj)

            with concurrent.futures.ThreadPoolExecutor(max(1, min(len(todo), os.cpu_count() or 1))) as pool:
                list(pool.map(one, todo))
            self.compile_seconds += time.monotonic() - t0
            self.compiled += todo
            self._archive()
            return True

    def _archive(self) -> None:
        objs = sorted((self.dir / "obj").glob("*.o"))
        tmp = self.archive.with_suffix(f".{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        build_mod.run_tool([AR, "rcs", tmp, *objs], f"archiving the TFLM library ({self.tree.engine})")
        os.replace(tmp, self.archive)

    # --- which source defines a symbol --------------------------------------------------------

    @functools.cached_property
    def _texts(self) -> dict[str, str]:
        return {rel: (self.tree.root / rel).read_text(errors="replace") for rel in self.sources()}

    def register_sources(self, opcodes) -> list[str]:
        """The files that define Register_<OP> for each op (CMSIS-NN's where the tree has them)."""
        out = []
        for op in opcodes:
            out += self.defining(f"Register_{op}")
        return out

    def defining(self, name: str, qualifier: str | None = None) -> list[str]:
        """Sources that define function `name` (a definition starts a line; calls are indented).
        A member function is looked up as `Class::name(`."""
        if qualifier:
            pat = re.compile(rf"\b{re.escape(qualifier)}::~?{re.escape(name)}\s*\(")
        else:
            pat = re.compile(rf"^[A-Za-z_][\w:<>,*& ]*[\s*&]{re.escape(name)}\s*\([^;]*$", re.M)
        return [rel for rel, text in self._texts.items() if pat.search(text)]

    def defining_data(self, name: str) -> list[str]:
        """Sources that define the global variable `name` (CMSIS-NN's tables, e.g. the
        sigmoid_table_uint16 its LSTM kernels use): a non-extern, non-static definition with an
        initializer starting a line."""
        pat = re.compile(rf"^(?!extern|static)[A-Za-z_][\w ]*[\s*]{re.escape(name)}\s*(\[[^\]]*\]\s*)*=", re.M)
        return [rel for rel, text in self._texts.items() if pat.search(text)]

    def for_undefined(self, symbols: list[str]) -> list[str]:
        """Sources to compile for the undefined (demangled) symbols a link reported."""
        found = []
        for sym in symbols:
            sym = sym.strip("'`\u2018\u2019 ")
            if sym.startswith(("vtable for ", "typeinfo for ")):
                cls = sym.split(" for ", 1)[1].split("::")[-1]
                found += [rel for rel, t in self._texts.items() if f"{cls}::" in t and f"class {cls}" not in t][:1] \
                    or [rel for rel, t in self._texts.items() if f"{cls}::" in t]
                continue
            head = sym.split("(", 1)[0]
            head = re.sub(r"<[^<>]*>", "", re.sub(r"<[^<>]*>", "", head))   # drop template args
            parts = [p for p in head.split("::") if p]
            if not parts:
                continue
            name = parts[-1].lstrip("~")
            qual = parts[-2] if len(parts) >= 2 and parts[-2] not in ("tflite", "tflm_signal", "micro",
                                                                      "ops", "reference_ops",
                                                                      "reference_integer_ops",
                                                                      "testing") else None
            hits = self.defining(name, qual)
            if not hits and qual:
                hits = self.defining(name)
            if not hits and "(" not in sym:
                hits = self.defining_data(name)
            found += hits
        return list(dict.fromkeys(found))


_UNDEF_RE = re.compile(r"undefined reference to [`'\u2018](.+?)['\u2019]\s*$", re.M)


def link_with_closure(lib: Library, link_cmd: list, what: str) -> None:
    """Run `link_cmd` (which names lib.archive); while it reports undefined symbols, compile the
    tree sources defining them and link again."""
    for _ in range(MAX_LINK_ROUNDS):
        proc = subprocess.run([str(c) for c in link_cmd], capture_output=True, text=True)
        if proc.returncode == 0:
            return
        out = proc.stderr + proc.stdout
        missing = sorted(set(_UNDEF_RE.findall(out)))
        if not missing:
            build_mod.run_tool(link_cmd, what)          # raises with the linker's first error
            return
        need = [r for r in lib.for_undefined(missing) if not lib._obj(r).exists()]
        if not need:
            raise build_mod.BuildError(f"{what}: undefined {missing[0]} and no source of the TFLM tree "
                                       f"{lib.tree.root} defines it ({len(missing)} undefined in all)")
        lib.ensure(need)
    raise build_mod.BuildError(f"{what}: still undefined symbols after {MAX_LINK_ROUNDS} rounds")
