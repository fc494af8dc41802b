"""Read a .tflite file with TensorFlow's own flatbuffer schema, without importing TensorFlow.

`schema_py_generated.py` (shipped inside the tensorflow wheel) depends only on `flatbuffers`, so it is
loaded straight from its file: `import tensorflow...` would cost seconds and ~650 MB just to read a
model. Everything that inspects a .tflite (preflight, export, the C engine's graph reader) starts
here, so a corrupt file is diagnosed in exactly one place.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepipe_base.errors import EdgepipeError

TFLITE_IDENTIFIER = b"TFL3"


@functools.lru_cache(maxsize=1)
def schema():
    """TensorFlow's generated flatbuffer schema module (tensorflow/lite/python/schema_py_generated.py)."""
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        raise EdgepipeError("tensorflow is not installed; run `make setup`")
    path = Path(list(spec.submodule_search_locations)[0]) / "lite" / "python" / "schema_py_generated.py"
    mod_spec = importlib.util.spec_from_file_location("edgepipe_tflite_schema", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def _enum_names(enum_class_name: str) -> dict[int, str]:
    enum = getattr(schema(), enum_class_name)
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def builtin_op_name(code: int) -> str:
    return _enum_names("BuiltinOperator").get(code, f"BUILTIN_{code}")


def tensor_type_name(code: int) -> str:
    return _enum_names("TensorType").get(code, f"TYPE_{code}")


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    dtype: str                    # "INT8", "FLOAT32", ... (TensorType names)
    shape: tuple[int, ...]
    buffer: int
    is_constant: bool
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    quantized_dimension: int = 0
    is_variable: bool = False     # state kept between invocations (SVDF/LSTM state; reset by the runtime)


@dataclass(frozen=True)
class Operator:
    index: int
    opcode: str                   # "CONV_2D", ... or the custom code for CUSTOM ops
    inputs: tuple[int, ...]       # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    builtin_options: object = field(default=None, compare=False, repr=False)
    custom: bool = False

    def layer_name(self, tensors) -> str:
        """The name users recognise: the converter names output tensors "<model>/<layer>/<op>;..."."""
        if not self.outputs:
            return f"op#{self.index}"
        first = tensors[self.outputs[0]].name.split(";")[0]
        parts = first.split("/")
        # model outputs are named after the signature ("StatefulPartitionedCall:0"): give the position
        return parts[1] if len(parts) > 2 else f"op#{self.index} ({first})"


@dataclass(frozen=True)
class Subgraph:
    tensors: tuple[Tensor, ...]
    operators: tuple[Operator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TFLiteModel:
    path: str
    data: bytes = field(repr=False)
    sha256: str
    subgraphs: tuple[Subgraph, ...]
    buffers: tuple[bytes, ...] = field(repr=False)
    raw: object = field(repr=False, compare=False)   # schema ModelT, for readers that need more

    @property
    def main(self) -> Subgraph:
        return self.subgraphs[0]

    def constant(self, tensor: Tensor) -> np.ndarray:
        """The values of a constant tensor, as a numpy array of its shape."""
        from edgepipe_base.tflite_types import numpy_dtype
        raw = self.buffers[tensor.buffer]
        return np.frombuffer(raw, dtype=numpy_dtype(tensor.dtype)).reshape(tensor.shape)

    def op_names(self) -> list[str]:
        return sorted({op.opcode for sg in self.subgraphs for op in sg.operators})


def read(path: str | Path, data: bytes | None = None) -> TFLiteModel:
    """Parse and validate a .tflite file (edgepipe_base.validate): a file that is not a complete
    TFLite flatbuffer, or breaks a schema or op rule, gives one clear error."""
    from . import validate
    path = str(path)
    if data is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise EdgepipeError(f"{path}: cannot read ({exc.strerror}); check the path") from None
    problem = f"{path}: not a valid .tflite file"
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise EdgepipeError(f"{problem} (no 'TFL3' flatbuffer identifier in its first 8 bytes); "
                            "pass a file written by the TFLite converter")
    s = schema()
    try:
        model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
        buffers = _buffers(model, data, path)
    except EdgepipeError:
        raise
    except Exception as exc:  # flatbuffers raises assorted IndexError/struct.error on truncation
        raise EdgepipeError(f"{problem} (flatbuffer does not parse: {type(exc).__name__}); "
                            "the file is probably truncated or corrupt - convert it again") from None
    validate.validate(model, buffers, path, _enum_names("BuiltinOperator"), _enum_names("BuiltinOptions"))
    return TFLiteModel(path=path, data=bytes(data), sha256=hashlib.sha256(data).hexdigest(),
                       subgraphs=_convert(model, buffers), buffers=buffers, raw=model)


def _buffers(model, data: bytes, path: str) -> tuple[bytes, ...]:
    buffers = []
    for k, b in enumerate(model.buffers or []):
        if b.data is not None:
            buffers.append(bytes(np.asarray(b.data, dtype=np.uint8)))
        elif getattr(b, "size", 0):       # >2 GB models keep buffers outside the flatbuffer
            if not (0 < b.offset and b.offset + b.size <= len(data)):
                raise EdgepipeError(f"{path}: not a valid .tflite file (buffer {k} points outside the file: "
                                    f"offset {b.offset}, {b.size} bytes of {len(data)}); convert it again")
            buffers.append(bytes(data[b.offset:b.offset + b.size]))
        else:
            buffers.append(b"")
    return tuple(buffers)


def _convert(model, buffers: tuple[bytes, ...]):
    """The validated schema object as edgepipe's small dataclasses."""
    codes = []
    for oc in model.operatorCodes or []:
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        name = builtin_op_name(code)
        if name == "CUSTOM":
            codes.append(((oc.customCode or b"CUSTOM").decode(errors="replace"), True))
        else:
            codes.append((name, False))
    subgraphs = []
    for sg in model.subgraphs or []:
        tensors = []
        for i, t in enumerate(sg.tensors or []):
            q = t.quantization
            scale = tuple(float(x) for x in (q.scale if q is not None and q.scale is not None else ()))
            zp = tuple(int(x) for x in (q.zeroPoint if q is not None and q.zeroPoint is not None else ()))
            shape = tuple(int(x) for x in (t.shape if t.shape is not None else ()))
            buf = int(t.buffer)
            tensors.append(Tensor(
                index=i, name=(t.name or b"").decode(errors="replace"),
                dtype=tensor_type_name(t.type), shape=shape, buffer=buf,
                is_constant=0 < buf < len(buffers) and len(buffers[buf]) > 0,
                scale=scale, zero_point=zp,
                quantized_dimension=int(q.quantizedDimension) if q is not None else 0,
                is_variable=bool(t.isVariable)))
        ops = []
        for i, op in enumerate(sg.operators or []):
            name, custom = codes[op.opcodeIndex]
            ops.append(Operator(index=i, opcode=name,
                                inputs=tuple(int(x) for x in (op.inputs if op.inputs is not None else ())),
                                outputs=tuple(int(x) for x in (op.outputs if op.outputs is not None else ())),
                                builtin_options=op.builtinOptions, custom=custom))
        subgraphs.append(Subgraph(tensors=tuple(tensors), operators=tuple(ops),
                                  inputs=tuple(int(x) for x in (sg.inputs if sg.inputs is not None else ())),
                                  outputs=tuple(int(x) for x in (sg.outputs if sg.outputs is not None else ()))))
    return tuple(subgraphs)
