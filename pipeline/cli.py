"""edgepipe command line: parses arguments and calls the driver; no logic lives here.

Errors a user can cause (EdgepipeError) end in one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from edgepipe_base.errors import EdgepipeError


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _samples(text: str) -> dict:
    from .bench.targets import parse_samples
    try:
        return parse_samples(text)
    except EdgepipeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_run(a) -> int:
    from . import report
    from .accumulate import this_run
    from .run import RunConfig, run
    opts = {k: v for k, v in {"samples": a.samples, "threads": a.threads, "latency_runs": a.latency_runs,
                              "port": a.port, "host": a.host, "serial": a.serial,
                              "layout": a.layout}.items() if v is not None}
    cfg = RunConfig(model=a.model, variants=a.variants, targets=a.targets, out=a.out, force=a.force,
                    dataset=a.dataset, input_scale=a.input_scale, input_offset=a.input_offset,
                    calibration_samples=a.calibration_samples, options=opts, engines=a.engines)
    doc, paths = run(cfg)
    print()
    print(report.render(doc))
    print(f"\nreport: {paths['md']}  (also {paths['json'].name}, {paths['csv'].name}, {paths['html'].name})")
    failed = [r for r in this_run(doc) if r.get("error")]
    if failed:
        print(f"edgepipe: {len(failed)} measurement(s) failed: "
              + "; ".join(f"{r['variant']} on {r['target']}: {r['error']}" for r in failed), file=sys.stderr)
        return 3
    return 0


def cmd_models(a) -> int:
    from . import datasets, recipes
    from .artifacts import keras_params
    rows = []
    for name in recipes.available():
        r = recipes.load(name)
        spec = datasets.DATASETS.get(r.dataset)
        teacher = keras_params(r.build(spec.input_shape, spec.num_classes))
        student = keras_params(r.build(spec.input_shape, spec.num_classes, **r.student)) if r.student else None
        rows.append((name, r.dataset, f"{teacher:,}", f"{student:,}" if student else "–",
                     r.doc.splitlines()[0] if r.doc else ""))
    _print_rows(("model", "dataset", "params", "student params", "description"), rows)
    return 0


def cmd_boards(a) -> int:
    from firmware_gen.boards import list_boards
    rows = [(b["id"], b["kind"], b["core"], f"{b['clock_hz'] / 1e6:g} MHz", f"{b['flash_bytes'] // 1024} KiB",
             f"{b['ram_bytes'] // 1024} KiB", _verified(b), b["name"])
            for b in list_boards()]
    _print_rows(("board", "kind", "core", "clock", "flash", "RAM", "verified", "name"), rows)
    from .devices import list_devices
    print()
    _print_rows(("device", "kind", "cpu", "reached via", "verified", "name"),
                [(d["id"], d["kind"], d["cpu"], d["reach"], _verified_device(d), d["name"]) for d in list_devices()])
    return 0


def _verified_device(device: dict) -> str:
    if device["kind"] == "arm64-qemu":
        return "yes (in qemu-aarch64)" if device["verified"] else "no"
    return "yes (on the device)" if device["verified"] else "no (not yet run on the device)"


def _verified(board: dict) -> str:
    """Emulated boards are verified by running in QEMU; real ones only once run on silicon."""
    if not board["verified"]:
        return "no (not yet run on silicon)" if board["kind"] == "real" else "no"
    return "yes (in QEMU)" if board["kind"] == "emulated" else "yes (on silicon)"


def cmd_bench(a) -> int:
    from . import report
    if a.file.suffix != ".tflite":
        raise EdgepipeError(f"{a.file}: `edgepipe bench` takes a .tflite file; for a Keras model use "
                            "`edgepipe run MODEL --dataset ...`")
    from .run import RunConfig, run
    opts = {k: v for k, v in {"samples": a.samples, "port": a.port, "host": a.host, "serial": a.serial,
                              "mode": "stream" if a.stream else None, "layout": a.layout}.items() if v is not None}
    doc, paths = run(RunConfig(model=str(a.file), targets=(a.target,), dataset=a.dataset, out=a.out,
                               input_scale=a.input_scale, input_offset=a.input_offset, options=opts,
                               engines=a.engines))
    print(report.render(doc))
    from .accumulate import this_run
    failed = [r for r in this_run(doc) if r.get("error")]
    for r in failed:
        print(f"edgepipe: {r['target']}: {r['error']}", file=sys.stderr)
    return 3 if failed else 0


def cmd_export(a) -> int:
    from .export import export
    paths = export(a.model, a.out, prefix=a.prefix, variant=a.variant, dataset=a.dataset, run_dir=a.run,
                   scale=a.input_scale, offset=a.input_offset, layout=a.layout)
    for p in paths:
        print(p)
    return 0


def cmd_docs(a) -> int:
    from . import docs
    print(docs.write())
    return 0


def cmd_report(a) -> int:
    from . import report
    doc = report.load(a.run_dir)
    paths = report.write(doc, a.run_dir)
    print(report.render(doc))
    print(f"\nreport: {paths['md']}")
    return 0


def _print_rows(head, rows) -> None:
    from .report import terminal
    print(terminal(list(head), [list(r) for r in rows], max_cell=90))


ENGINES_HELP = ("engines in the board firmware, each measured side by side: edgepipe (the generated C "
                "engine), tflm (TensorFlow Lite Micro, reference kernels), tflm-cmsis-nn (TFLM with Arm "
                "CMSIS-NN kernels); the TFLM engines need a TFLM source tree in TFLM_DIR (README.md). "
                "Default: edgepipe where it runs the model, else tflm-cmsis-nn")


def _layout_arg(p) -> None:
    from firmware_gen import layout
    p.add_argument("--layout", choices=layout.LAYOUTS, default=layout.DEFAULT, help=layout.HELP)


def _preprocessing_args(p) -> None:
    p.add_argument("--input-scale", type=float, metavar="S",
                   help="model input x = raw * S + O (default: the dataset's, e.g. 1/255 for 8-bit images)")
    p.add_argument("--input-offset", type=float, metavar="O", help="see --input-scale (default: the dataset's)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgepipe", description="Keras model -> microcontrollers: compress, "
                                "convert, export C, benchmark on host, emulated and real boards, report.")
    p.add_argument("--version", action="version", version=f"edgepipe {__version__}")
    p.add_argument("--verbose", action="store_true",
                   help="show TensorFlow/converter output and Keras epochs instead of the progress bars "
                        "(also EDGEPIPE_DEBUG=1, which adds tracebacks)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="train, compress, convert, check and benchmark a model; write the report")
    r.add_argument("model", help="model recipe name (see `edgepipe models`), or a .keras/.h5/.tflite file")
    r.add_argument("--variants", type=_csv, help="comma-separated variants (default: all), e.g. int8,qat,prune75")
    r.add_argument("--targets", type=_csv, default=("host-litert", "host-tflm"),
                   help="comma-separated targets: host-litert, host-tflm, host-c, host-lce (binary), a board "
                        "id, or a device id (arm64-qemu, pi4, ...; <device>-c: the C engine there) "
                        "(default: host-litert,host-tflm)")
    r.add_argument("--out", type=Path, help="run folder (default: runs/<model>)")
    r.add_argument("--force", metavar="STAGE", help="redo from this stage on: train, compress, convert or bench")
    r.add_argument("--dataset", help="dataset when MODEL is a file: a name, a .npz (x_train, y_train, x_test, "
                                     "y_test) or a folder with one subfolder of images per class")
    _preprocessing_args(r)
    r.add_argument("--calibration-samples", type=int, default=500, help="PTQ calibration samples (default 500)")
    r.add_argument("--samples", type=_samples, metavar="N|TARGET=N,...",
                   help="test samples: N for every target, or per target, e.g. host-c=1000,mps2-an386=100 "
                        "(default: the whole test set on host targets, 500 on boards)")
    r.add_argument("--threads", type=int, help="LiteRT threads (default 1)")
    r.add_argument("--latency-runs", type=int, help="timed single-sample invocations (default 200)")
    r.add_argument("--port", help="serial port of a real board, e.g. /dev/ttyACM0")
    r.add_argument("--engines", type=_csv, metavar="E,...", help=ENGINES_HELP)
    _layout_arg(r)
    r.add_argument("--host", help="user@address of a Linux device (overrides its devices/<id>.toml)")
    r.add_argument("--serial", help="adb serial of an Android device (overrides its devices/<id>.toml)")
    r.set_defaults(fn=cmd_run)

    m = sub.add_parser("models", help="list model recipes with parameter counts")
    m.set_defaults(fn=cmd_models)
    b = sub.add_parser("boards", help="list boards (emulated and real) and OS devices (phones, Linux boards)")
    b.set_defaults(fn=cmd_boards)

    be = sub.add_parser("bench", help="benchmark an existing .tflite on one target")
    be.add_argument("file", type=Path, help="the .tflite file")
    be.add_argument("--target", required=True, help="host-litert, host-tflm, host-c, a board id or a device id "
                    "(arm64-qemu, pi4, pixel7, <device>-c)")
    be.add_argument("--dataset", help="test data to measure accuracy on (default: seeded random inputs "
                    "of the model's input type and shape: mismatches, arena, instructions, flash/RAM; "
                    "accuracy null)")
    be.add_argument("--out", type=Path, help="run folder (default: runs/<file stem>)")
    _preprocessing_args(be)
    be.add_argument("--samples", type=_samples, metavar="N", help="test samples (default: all; 500 on boards)")
    be.add_argument("--port")
    be.add_argument("--stream", action="store_true",
                    help="a stateful (streaming) model: the samples are the consecutive frames of one stream "
                         "(default: its state is reset before each sample)")
    be.add_argument("--engines", type=_csv, metavar="E,...", help=ENGINES_HELP)
    _layout_arg(be)
    be.add_argument("--host", help="user@address of a Linux device")
    be.add_argument("--serial", help="adb serial of an Android device")
    be.set_defaults(fn=cmd_bench)

    ex = sub.add_parser("export", help="write the generated C engine, TFLM C arrays + settings, the input "
                        "preprocessing, an example main.c, a Makefile snippet and a README (all or nothing)")
    ex.add_argument("model", help="model recipe name, a .keras/.h5 file (with --dataset) or an int8 (or int16x8) .tflite file")
    ex.add_argument("--out", type=Path, required=True, help="folder for the C files")
    ex.add_argument("--prefix", help="C name prefix (default: <model>_<variant>)")
    ex.add_argument("--variant", default="int8", help="which variant of a recipe to export (default int8)")
    ex.add_argument("--dataset", help="the dataset of a .keras/.h5 file (calibration, labels, preprocessing); "
                                      "for a .tflite: its labels and preprocessing")
    _preprocessing_args(ex)
    ex.add_argument("--run", type=Path, help="run folder whose trained model and variants are reused "
                                             "(default: runs/<model>)")
    _layout_arg(ex)
    ex.set_defaults(fn=cmd_export)

    d = sub.add_parser("docs", help="regenerate docs/SUPPORTED.md (ops and preflight rules)")
    d.set_defaults(fn=cmd_docs)

    rep = sub.add_parser("report", help="re-render the tables of a finished run from its results.json")
    rep.add_argument("run_dir", type=Path)
    rep.set_defaults(fn=cmd_report)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if args.verbose:
        os.environ["EDGEPIPE_VERBOSE"] = "1"
    try:
        return args.fn(args)
    except EdgepipeError as exc:
        if os.environ.get("EDGEPIPE_DEBUG"):
            raise
        print(f"edgepipe: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgepipe: interrupted; run again to resume (finished stages are cached)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
