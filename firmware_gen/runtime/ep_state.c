/* READ_VARIABLE, ASSIGN_VARIABLE and CALL_ONCE: copies into and out of the state region. */
#include "ep_runtime.h"

#include <string.h>

void ep_state_copy(const ep_copy_params *p, const int8_t *in, int8_t *out)
{
    if (in != out && p->bytes > 0) {
        memcpy(out, in, (size_t)p->bytes);
    }
}

void ep_call_once(const ep_call_once_params *p, int8_t *state)
{
    int32_t k, pos = 0;

    if (state[p->flag] != 0) {
        return;
    }
    for (k = 0; k < p->count; ++k) {
        memcpy(state + p->offset[k], p->image + pos, (size_t)p->size[k]);
        pos += p->size[k];
    }
    state[p->flag] = 1;
}
