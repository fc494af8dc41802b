/* The benchmark app's engine interface (ep_tflm_engine.h) on TensorFlow Lite Micro.
 *
 * A MicroMutableOpResolver with exactly the model's ops (ep_tflm_register_ops, generated), a
 * static arena of EP_TFLM_TFLM_ARENA_BYTES (TFLM's host measurement plus margin), no heap, no global
 * constructors: the interpreter and resolver are placement-constructed in static storage by
 * ep_tflm_init(). TFLM's log goes nowhere: the UART carries the benchmark protocol. */
#include <stdint.h>
#include <string.h>

#include <new>

#include "ep_tflm_engine.h"
#include "ep_tflm_model_data.h"
#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_resource_variable.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"
#include "ep_tflm_model_settings.h"

#define EP_TFLM_INPUT_BYTES (EP_TFLM_INPUT_ELEMENTS * sizeof(EP_TFLM_INPUT_TYPE))
#define EP_TFLM_OUTPUT_BYTES (EP_TFLM_OUTPUT_ELEMENTS * sizeof(EP_TFLM_OUTPUT_TYPE))
/* resource variables of a streaming model (VAR_HANDLE's shared names), set by the build */
#ifndef EP_TFLM_RESOURCE_VARIABLES
#define EP_TFLM_RESOURCE_VARIABLES 0
#endif

namespace {

using Resolver = tflite::MicroMutableOpResolver<EP_TFLM_OP_COUNT>;

alignas(16) uint8_t arena[EP_TFLM_TFLM_ARENA_BYTES];
alignas(Resolver) uint8_t resolver_mem[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) uint8_t interpreter_mem[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *interpreter = nullptr;
int init_status = 1; /* not yet initialised */

}  // namespace

extern "C" int ep_tflm_init(void) {
    const tflite::Model *model = tflite::GetModel(g_ep_tflm_model_data);
    if (model->version() != TFLITE_SCHEMA_VERSION) return init_status = -1;
    Resolver *resolver = new (resolver_mem) Resolver();
    if (ep_tflm_register_ops(*resolver) != kTfLiteOk) return init_status = -2;
#if EP_TFLM_RESOURCE_VARIABLES > 0
    /* the allocator and the variables live in the arena (no heap), as TFLM's Python interpreter
     * sets them up for models with resource variables */
    tflite::MicroAllocator *allocator = tflite::MicroAllocator::Create(arena, sizeof arena);
    if (allocator == nullptr) return init_status = -3;
    tflite::MicroResourceVariables *variables =
        tflite::MicroResourceVariables::Create(allocator, EP_TFLM_RESOURCE_VARIABLES);
    if (variables == nullptr) return init_status = -3;
    interpreter = new (interpreter_mem) tflite::MicroInterpreter(model, *resolver, allocator, variables);
#else
    interpreter = new (interpreter_mem) tflite::MicroInterpreter(model, *resolver, arena, sizeof arena);
#endif
    if (interpreter->AllocateTensors() != kTfLiteOk) return init_status = -3;
    if (interpreter->input(0)->bytes != EP_TFLM_INPUT_BYTES ||
        interpreter->output(0)->bytes != EP_TFLM_OUTPUT_BYTES)
        return init_status = -4;
    return init_status = 0;
}

extern "C" int ep_tflm_invoke(const int8_t *input, int8_t *output) {
    if (init_status != 0) return init_status;
    memcpy(interpreter->input(0)->data.raw, input, EP_TFLM_INPUT_BYTES);
    if (interpreter->Invoke() != kTfLiteOk) return -5;
    memcpy(output, interpreter->output(0)->data.raw, EP_TFLM_OUTPUT_BYTES);
    return 0;
}

extern "C" void ep_tflm_reset(void) {
    if (init_status == 0) interpreter->Reset();   /* variable tensors, resource variables, CALL_ONCE */
}

extern "C" uint32_t ep_tflm_arena_used(void) {
    return interpreter != nullptr && init_status == 0 ? (uint32_t)interpreter->arena_used_bytes() : 0u;
}

/* TFLM's platform hooks (tensorflow/lite/micro/debug_log.h, micro_time.h): this firmware has no
 * console for the log, and the app times inferences itself. */
extern "C" void DebugLog(const char *format, va_list args) {
    (void)format;
    (void)args;
}

extern "C" int DebugVsnprintf(char *buffer, size_t buf_size, const char *format, va_list vlist) {
    (void)format;
    (void)vlist;
    if (buf_size) buffer[0] = 0;
    return 0;
}

namespace tflite {
uint32_t ticks_per_second() { return 0; }
uint32_t GetCurrentTimeTicks() { return 0; }
}  // namespace tflite
