"""The report's plots, drawn from results.json alone (matplotlib, static PNGs in <run>/plots/):
accuracy against model size and against latency / instructions per target, with the Pareto front
marked, and RAM / flash against each board's limits."""

from __future__ import annotations

from pathlib import Path


def pareto(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The points no other point beats on both counts (smaller x, higher y), by increasing x."""
    front, best = [], float("-inf")
    for x, y, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            front.append((x, y, name))
            best = y
    return front


def _accuracy(results: dict) -> dict[str, float]:
    """Per variant: LiteRT accuracy (the whole test split), else TFLM's."""
    acc = {}
    for target in ("host-tflm", "host-litert"):
        for r in results["results"]:
            if r["target"] == target and r.get("accuracy") is not None and not r.get("stale"):
                acc[r["variant"]] = r["accuracy"]
    return acc


def _cost(r: dict) -> tuple[float, str] | None:
    """What a row's inference costs, and in which unit: instructions, cycles or host latency."""
    for key, unit in (("instructions", "instructions / inference"), ("cycles", "cycles / inference")):
        v = r.get(key)
        v = v.get("median") if isinstance(v, dict) else v
        if v:
            return float(v), unit
    lat = r.get("latency_ms") or {}
    if lat.get("median") and not lat.get("estimate"):
        return 1e3 * lat["median"], "latency µs (p50)"
    return None


def _scatter(ax, points, xlabel: str, title: str) -> None:
    xs, ys, names = zip(*points)
    ax.scatter(xs, [100 * y for y in ys], color="#4477aa", zorder=3)
    for x, y, n in points:
        ax.annotate(n, (x, 100 * y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    front = pareto(list(points))
    ax.plot([p[0] for p in front], [100 * p[1] for p in front], color="#cc3311", marker="o", fillstyle="none",
            markersize=11, linewidth=1.5, label="Pareto front", zorder=2)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("top-1 accuracy %")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")


def write(results: dict, out_dir: Path) -> dict[str, Path]:
    """Write the plots there is data for; returns {name: path}."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(out_dir) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written = {}

    def save(fig, name: str, caption: str):
        from edgepipe_base.atomic import write_atomic
        import io
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        write_atomic(folder / f"{name}.png", buf.getvalue())
        written[name] = (folder / f"{name}.png", caption)

    acc = _accuracy(results)
    sizes = {v["name"]: v["tflite_bytes"] for v in results["variants"]}
    pts = [(sizes[n] / 1024, a, n) for n, a in acc.items() if n in sizes]
    if pts:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        _scatter(ax, pts, ".tflite size KiB (log)", f"{results['model']}: accuracy vs size")
        save(fig, "accuracy_vs_size", "Accuracy (LiteRT, whole test split) against .tflite size; "
             "the Pareto front joins the variants nothing beats on both.")

    by_target: dict[str, list] = {}
    for r in results["results"]:
        cost = _cost(r)
        if cost and r.get("accuracy") is not None and not r.get("error") and not r.get("stale"):
            by_target.setdefault((r["target"], cost[1]), []).append((cost[0], r["accuracy"], r["variant"]))
    if by_target:
        n = len(by_target)
        fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 4.0), squeeze=False)
        for ax, ((target, unit), points) in zip(axes[0], sorted(by_target.items())):
            samples = {r["samples"] for r in results["results"] if r["target"] == target and r.get("samples")}
            _scatter(ax, points, f"{unit} (log)", f"{target}" + (f" (n={max(samples)})" if samples else ""))
        save(fig, "accuracy_vs_cost", "Accuracy against cost per target: executed instructions on emulated "
             "boards and host-c, cycles on real boards, median latency on the host interpreters.")

    boards = _board_rows(results)
    if boards:
        fig, ax = plt.subplots(figsize=(max(6.4, 0.9 * len(boards) + 2), 4.2))
        labels = [f"{r['variant']}\n{r['target']}" for r, _ in boards]
        xs = range(len(boards))
        ax.bar([x - 0.2 for x in xs], [(r.get("ram_bytes") or 0) / 1024 for r, _ in boards], 0.4,
               label="RAM used", color="#4477aa")
        ax.bar([x + 0.2 for x in xs], [(r.get("flash_bytes") or 0) / 1024 for r, _ in boards], 0.4,
               label="flash used", color="#66ccee")
        for x, (_, b) in zip(xs, boards):
            if b is not None:
                ax.hlines(b.ram_bytes / 1024, x - 0.4, x, color="#cc3311", linewidth=2)
                ax.hlines(b.flash_bytes / 1024, x, x + 0.4, color="#aa3377", linewidth=2)
        ax.plot([], [], color="#cc3311", label="board RAM")
        ax.plot([], [], color="#aa3377", label="board flash")
        ax.set_yscale("log")
        ax.set_xticks(list(xs), labels, fontsize=8)
        ax.set_ylabel("KiB (log)")
        ax.set_title("memory used against the board's limits", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        save(fig, "memory_vs_board", "RAM and flash of each firmware (from the ELF and the stack high-water "
             "mark) against the board's RAM and flash.")
    profiled = _profiled_rows(results)
    if profiled:
        fig, axes = plt.subplots(1, len(profiled), figsize=(5.6 * len(profiled), 0.32 * max(
            len(r["layers"]) for r in profiled) + 1.6), squeeze=False)
        for ax, r in zip(axes[0], profiled):
            layers = r["layers"]
            unit = "instructions" if any(l.get("instructions") is not None for l in layers) else "cycles"
            counts = [l.get(unit) or 0 for l in layers]
            ys = range(len(layers))
            ax.barh(list(ys), counts, color="#4477aa")
            for y, l, c in zip(ys, layers, counts):
                rate = l.get(f"macs_per_{unit[:-1]}")
                if rate:
                    ax.annotate(f"{rate:.2f} MAC/{unit[:5]}.", (c, y), textcoords="offset points",
                                xytext=(3, -3), fontsize=7)
            ax.set_yticks(list(ys), [f"#{l['index']} {l['opcode']}" for l in layers], fontsize=7)
            ax.invert_yaxis()
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
            ax.set_xlabel(f"{unit} per inference")
            ax.set_title(f"{r['variant']} on {r['target']}: per layer", fontsize=10)
            ax.grid(True, axis="x", alpha=0.3)
        save(fig, "layers", "Per-layer cost of one inference (the firmware's counter around each layer on "
             "emulated boards, callgrind on host-c; instructions, not cycles, under emulation), with MACs "
             "per instruction: the slow layer is the longest bar.")
    return written


def _profiled_rows(results: dict) -> list[dict]:
    """Per target, the measured row with a per-layer profile: int8 when there is one, else the first."""
    chosen: dict[str, dict] = {}
    for r in results["results"]:
        if not r.get("layers") or r.get("error") or r.get("stale"):
            continue
        if r["target"] not in chosen or (r["variant"] == "int8" and chosen[r["target"]]["variant"] != "int8"):
            chosen[r["target"]] = r
    return [chosen[t] for t in sorted(chosen)]


def _board_rows(results: dict):
    from edgepipe_base.errors import EdgepipeError
    rows = []
    for r in results["results"]:
        if r.get("ram_bytes") is None and r.get("flash_bytes") is None:
            continue
        try:
            from firmware_gen.boards import load_board
            board = load_board(r["target"])
        except (EdgepipeError, OSError, KeyError):
            board = None
        rows.append((r, board))
    return rows
