/* The elapsed count around one inference.
 *
 * Under QEMU -icount, SysTick advances 2^shift ns per executed instruction, so it counts executed
 * instructions (deterministic run to run); the 24-bit counter wraps every 2^24 ticks, so the wraps
 * are counted in the SysTick interrupt. QEMU's SysTick reads 0 until its first reload: wait for a
 * non-zero value before taking readings. The app restarts the counter before each measurement so
 * the SysTick phase, and any wrap interrupt inside the measurement, fall on the same instruction
 * every run (the time spent polling the UART between requests depends on the host). On silicon DWT CYCCNT counts core cycles (32 bits; the
 * high word counts wraps noticed between readings, enough for one inference under 2^32 cycles).
 */
#include <stdint.h>

#include "bsp.h"

#if EP_COUNTER_SYSTICK
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define ICSR (*(volatile uint32_t *)0xE000ED04u)

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

void ep_counter_init(void) {
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 0x7u; /* processor clock, interrupt on wrap, enable */
    while (SYST_CVR == 0) {
    }
}

void ep_counter_restart(void) {
    SYST_CVR = 0; /* clears the count; the next tick reloads it */
    while (SYST_CVR == 0) {
    }
    systick_wraps = 0;
    ICSR = 1u << 25; /* PENDSTCLR: drop a wrap raised by the restart itself */
}

uint64_t ep_counter_now(void) {
    uint32_t hi, lo;
    do {
        hi = systick_wraps;
        lo = SYST_CVR;
    } while (hi != systick_wraps);
    /* counts down from 0xFFFFFF: ticks elapsed in this period = 0xFFFFFF - lo */
    return ((uint64_t)hi << 24) + (0x00FFFFFFu - lo);
}

#elif EP_COUNTER_DWT
#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

static uint32_t dwt_hi, dwt_last;

void SysTick_Handler(void) {}

void ep_counter_init(void) {
    DEMCR |= 1u << 24;       /* TRCENA */
    DWT_LAR = 0xC5ACCE55u;   /* unlock where a lock is implemented (M7) */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;          /* CYCCNTENA */
}

void ep_counter_restart(void) {
    DWT_CYCCNT = 0;
    dwt_hi = 0;
    dwt_last = 0;
}

uint64_t ep_counter_now(void) {
    uint32_t now = DWT_CYCCNT;
    if (now < dwt_last) dwt_hi++;
    dwt_last = now;
    return ((uint64_t)dwt_hi << 32) | now;
}
#else
#error "ep_board_config.h must set EP_COUNTER_SYSTICK or EP_COUNTER_DWT"
#endif
