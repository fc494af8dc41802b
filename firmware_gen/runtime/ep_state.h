/* Persistent state: resource variables (VAR_HANDLE / READ_VARIABLE / ASSIGN_VARIABLE, initialised
 * by CALL_ONCE) and variable tensors (is_variable: SVDF / LSTM state) live in the model's state
 * region, which survives between invocations; `<prefix>_reset()` re-initialises it. */
#ifndef EP_STATE_H
#define EP_STATE_H

#include <stdint.h>

/* READ_VARIABLE (state -> arena) and ASSIGN_VARIABLE (arena -> state): the bytes as they are,
 * as TFLM copies them. */
typedef struct {
    int32_t bytes;
} ep_copy_params;

/* CALL_ONCE of an init subgraph made of constant ASSIGN_VARIABLEs: on the first invocation after a
 * reset, copy `size[k]` bytes of `image` (the constants, back to back) to `offset[k]` of the state
 * region, then set the byte at `flag` of the state region. */
typedef struct {
    int32_t flag, count;
    const int32_t *offset;
    const int32_t *size;
    const int8_t *image;
} ep_call_once_params;

void ep_state_copy(const ep_copy_params *p, const int8_t *in, int8_t *out);
void ep_call_once(const ep_call_once_params *p, int8_t *state);

#endif /* EP_STATE_H */
