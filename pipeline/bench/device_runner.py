"""edgepipe's device-side runner: runs on the phone / Linux board / emulated Arm64 CPU itself.

It needs only Python 3, numpy and a TFLite interpreter (`ai_edge_litert`, else `tflite_runtime`),
and imports nothing from edgepipe: the host copies this one file to the device.

    python3 device_runner.py MODEL.tflite SAMPLES.npy OUTDIR [--threads N] [--xnnpack on|off]
                             [--chunk N] [--latency-runs N] [--warmup N]

SAMPLES.npy holds the inputs already in the model's input dtype, [N, *input shape]. Outputs go to
OUTDIR/chunk-<start>.npy, one file per `--chunk` samples, each written under a temporary name and
renamed: a run that dies keeps its finished chunks, and the next run skips them. At the end the
chunks are joined into OUTDIR/outputs.npy, single invocations are timed after warm-up, and one
line `EDGEPIPE-RESULT {json}` says which interpreter ran (name and version), threads, XNNPACK on or
off, the latency summary, and how many samples were already done before this run.
Exit codes: 0 done, 3 no interpreter/numpy on the device, 4 the model or samples cannot be read.
"""

import argparse
import json
import os
import sys
import time

RESULT = "EDGEPIPE-RESULT "


def fail(code, message):
    print("EDGEPIPE-ERROR " + message, file=sys.stderr, flush=True)
    sys.exit(code)


def load_interpreter():
    """(Interpreter class, OpResolverType or None, name, version) of the first interpreter found."""
    try:
        import ai_edge_litert
        from ai_edge_litert import interpreter as mod
        return mod.Interpreter, getattr(mod, "OpResolverType", None), "ai_edge_litert", ai_edge_litert.__version__
    except ImportError:
        pass
    try:
        import tflite_runtime
        from tflite_runtime import interpreter as mod
        return mod.Interpreter, getattr(mod, "OpResolverType", None), "tflite_runtime", tflite_runtime.__version__
    except ImportError:
        fail(3, "no TFLite interpreter: install ai-edge-litert or tflite-runtime for this Python "
                "(pip install ai-edge-litert)")


def make(cls, resolver, model, threads, xnnpack):
    kwargs = {"model_content": model, "num_threads": threads}
    if not xnnpack:
        if resolver is None:
            fail(3, "this interpreter cannot turn XNNPACK off (no OpResolverType)")
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = cls(**kwargs)
    interp.allocate_tensors()
    return interp


def main(argv=None):
    p = argparse.ArgumentParser(prog="device_runner.py")
    p.add_argument("model")
    p.add_argument("samples")
    p.add_argument("outdir")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--xnnpack", choices=("on", "off"), default="on")
    p.add_argument("--chunk", type=int, default=100)
    p.add_argument("--latency-runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    a = p.parse_args(argv)
    try:
        import numpy as np
    except ImportError:
        fail(3, "numpy is not installed for this Python (pip install numpy)")
    cls, resolver, name, version = load_interpreter()
    try:
        with open(a.model, "rb") as f:
            model = f.read()
        x = np.load(a.samples)
    except (OSError, ValueError) as e:
        fail(4, "cannot read the model or the samples: %s" % e)
    xnnpack = a.xnnpack == "on"
    interp = make(cls, resolver, model, a.threads, xnnpack)
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    os.makedirs(a.outdir, exist_ok=True)
    done_before = 0
    chunks = []
    for start in range(0, len(x), a.chunk):
        path = os.path.join(a.outdir, "chunk-%08d.npy" % start)
        chunks.append(path)
        if os.path.exists(path):
            done_before += min(a.chunk, len(x) - start)
            continue
        ys = []
        for sample in x[start:start + a.chunk]:
            interp.set_tensor(inp, sample[None, ...])
            interp.invoke()
            ys.append(interp.get_tensor(out)[0].copy())
        tmp = path + ".tmp.npy"
        np.save(tmp, np.stack(ys))
        os.replace(tmp, path)
    outputs = np.concatenate([np.load(c) for c in chunks]) if chunks else np.zeros((0,))
    np.save(os.path.join(a.outdir, "outputs.npy.tmp.npy"), outputs)
    os.replace(os.path.join(a.outdir, "outputs.npy.tmp.npy"), os.path.join(a.outdir, "outputs.npy"))
    latency = None
    if a.latency_runs > 0 and len(x):
        times = []
        for i in range(a.warmup + a.latency_runs):
            interp.set_tensor(inp, x[i % len(x)][None, ...])
            t0 = time.perf_counter()
            interp.invoke()
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
        ms = np.asarray(times) * 1e3
        latency = {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)), "runs": len(ms),
                   "warmup": a.warmup}
    print(RESULT + json.dumps({"interpreter": name, "interpreter_version": version, "threads": a.threads,
                               "xnnpack": xnnpack, "samples": int(len(x)), "done_before": done_before,
                               "latency_ms": latency, "machine": os.uname().machine}), flush=True)


if __name__ == "__main__":
    main()
