/* The engine interface the benchmark app (runtime/app/main.c) calls, implemented with TensorFlow
 * Lite Micro's MicroInterpreter (ep_tflm_engine.cc). The model, its op registrations and the arena
 * size come from the generated ep_tflm_model_data.h / ep_tflm_model_settings.h. */
#ifndef EP_TFLM_ENGINE_H
#define EP_TFLM_ENGINE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Build the interpreter and allocate its tensors: 0, or a negative code (-1 model schema,
 * -2 op registration, -3 AllocateTensors failed: arena too small or an op refused the model,
 * -4 the input/output sizes differ from the ones the firmware was built for). */
int ep_tflm_init(void);
/* Copy `input` into the input tensor, Invoke(), copy the output tensor to `output`: 0, or the
 * init error, or -5 when Invoke() fails. */
int ep_tflm_invoke(const int8_t *input, int8_t *output);
/* Re-initialise a streaming model's state (MicroInterpreter::Reset()). */
void ep_tflm_reset(void);
/* Bytes of the arena the interpreter uses (after init), as TFLM's allocator reports them. */
uint32_t ep_tflm_arena_used(void);

#ifdef __cplusplus
}
#endif

#endif /* EP_TFLM_ENGINE_H */
