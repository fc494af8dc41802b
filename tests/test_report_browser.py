"""report.html with its plots, rendered by a real headless browser (Debian's chromium): the PNGs
exist, the page references them, and the screenshot is not blank."""

import subprocess

import numpy as np

from pipeline import plots, report
from test_report import _doc


def test_pareto_front_keeps_only_unbeaten_points():
    pts = [(10, 0.90, "a"), (5, 0.85, "b"), (20, 0.89, "c"), (2, 0.50, "d"), (5, 0.80, "e")]
    assert [p[2] for p in plots.pareto(pts)] == ["d", "b", "a"]


def test_report_plots_render_in_a_headless_browser(tmp_path):
    import matplotlib.image
    paths = report.write(_doc(), tmp_path)
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == ["accuracy_vs_cost.png", "accuracy_vs_size.png", "memory_vs_board.png"]
    html = paths["html"].read_text()
    for name in pngs:
        assert f'src="plots/{name}"' in html
    assert "★ best deployable here" in html
    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1400,2200",
         f"--screenshot={shot}", paths["html"].as_uri()],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    img = matplotlib.image.imread(str(shot))[..., :3]
    assert img.shape[:2] == (2200, 1400)
    ink = np.any(img < 0.9, axis=-1)                       # pixels that are not (near) white
    assert ink.mean() > 0.02, f"only {ink.mean():.3%} of the page is drawn"
    # the plots are there: the lower half of the page (below the tables) holds coloured pixels
    lower = img[img.shape[0] // 3:]
    coloured = (lower.max(axis=-1) - lower.min(axis=-1)) > 0.25
    assert coloured.mean() > 0.001, "no coloured plot pixels below the tables"


def test_per_layer_plot_shows_each_layer_of_a_profiled_row(tmp_path):
    import matplotlib.image
    doc = _doc()
    row = next(r for r in doc["results"] if r["target"] not in ("host-litert", "host-tflm"))
    row["layers"] = [{"index": i, "opcode": op, "name": f"l{i}", "macs": m, "instructions": n,
                      "macs_per_instruction": m / n} for i, (op, m, n) in
                     enumerate([("CONV_2D", 90000, 300000), ("DEPTHWISE_CONV_2D", 9000, 80000),
                                ("FULLY_CONNECTED", 1000, 4000)])]
    figures = plots.write(doc, tmp_path)
    path, caption = figures["layers"]
    img = matplotlib.image.imread(path)
    assert "per-layer" in caption.lower() and img.shape[0] > 100
    assert (img[..., :3] < 0.9).any()                     # bars drawn, not a blank canvas
