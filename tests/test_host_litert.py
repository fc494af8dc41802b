"""host-litert's batched accuracy pass gives exactly the per-sample outputs, on third-party models
(some bake a batch of 1 into their RESHAPE ops and must fall back to one invoke per sample)."""

import numpy as np
import pytest

from edgepipe_base import tflite_file
from pipeline.bench import host_litert


@pytest.mark.parametrize("name", ["mlperf_tiny_kws_ref_model", "mlperf_tiny_ic_resnet8_int8",
                                  "tflm_hello_world_int8", "tflm_micro_speech_int8"])
def test_batched_outputs_equal_single_sample_outputs(testdata, name):
    from ai_edge_litert.interpreter import Interpreter
    model = tflite_file.read(testdata / f"{name}.tflite")
    t = model.main.tensors[model.main.inputs[0]]
    x = np.random.default_rng(0).integers(-128, 128, size=(300, *t.shape[1:]), dtype=np.int8)
    interp = Interpreter(model_content=model.data, num_threads=1)
    interp.allocate_tensors()
    single = []
    for sample in x:
        interp.set_tensor(interp.get_input_details()[0]["index"], sample[None])
        interp.invoke()
        single.append(interp.get_tensor(interp.get_output_details()[0]["index"])[0].copy())
    assert np.array_equal(host_litert._outputs(model, x, threads=1), np.stack(single))
