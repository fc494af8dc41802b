/* Vector table, reset handler and fault report for every Cortex-M board.
 *
 * Reset: point VTOR at our table, enable the FPU/MVE coprocessors where the core has them (or the
 * first FP/MVE instruction takes a NOCP UsageFault), copy .data, zero .bss, paint the stack so its
 * high-water mark can be measured, initialise the board, run main().
 */
#include <stdint.h>

#include "bsp.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_limit, __stack_top;

int main(void);
void Reset_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);

#define EP_STACK_PAINT 0xC5AC5AC5u
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

static void Default_Handler(void) { HardFault_Handler(); }

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));

/* 16 system entries + 16 device interrupts (the app uses none; they all report a fault). */
__attribute__((section(".vectors"), used)) void (*const ep_vectors[32])(void) = {
    (void (*)(void))(&__stack_top), Reset_Handler, NMI_Handler, HardFault_Handler,
    MemManage_Handler, BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0, SVC_Handler, 0, 0,
    PendSV_Handler, SysTick_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler,
};

__attribute__((noinline)) static void paint_stack(void) {
    /* Paint from the stack's bottom up to just below this frame. */
    volatile uint32_t here;
    uint32_t *p = &__stack_limit;
    uint32_t *end = (uint32_t *)((uintptr_t)&here - 64u);
    while (p < end) *p++ = EP_STACK_PAINT;
}

void Reset_Handler(void) {
#if !defined(__ARM_ARCH_6M__)
    SCB_VTOR = (uint32_t)(uintptr_t)ep_vectors;
#endif
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= (0xFu << 20); /* CP10, CP11 full access */
    __asm volatile("dsb\n isb" ::: "memory");
#endif
    volatile uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end) *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end; ) *dst++ = 0;
    paint_stack();
    bsp_init();
    ep_counter_init();
    ep_exit(main());
}

uint32_t ep_stack_size(void) { return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)&__stack_limit); }

static uint32_t stack_used_before_repaint; /* high-water mark when ep_stack_repaint last ran */

static const uint32_t *stack_lowest_touched(void) {
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == EP_STACK_PAINT) p++;
    return p;
}

uint32_t ep_stack_used(void) {
    const uint32_t used = (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)stack_lowest_touched());
    return used > stack_used_before_repaint ? used : stack_used_before_repaint;
}

uintptr_t ep_stack_pointer(void) {
    uintptr_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

__attribute__((noinline)) void ep_stack_repaint(void) {
    /* a leaf: painting below its own stack pointer touches no live frame (an interrupt's frame
     * lands there only while this loop is not running) */
    uint32_t *p = &__stack_limit;
    uint32_t *end = (uint32_t *)ep_stack_pointer();
    stack_used_before_repaint = ep_stack_used();
    while (p < end) *p++ = EP_STACK_PAINT;
}

uint32_t ep_stack_depth_below(uintptr_t sp) {
    const uintptr_t low = (uintptr_t)stack_lowest_touched();
    return sp > low ? (uint32_t)(sp - low) : 0u;
}

void ep_puts(const char *s) {
    while (*s) bsp_uart_putc((uint8_t)*s++);
}

void ep_put_hex32(uint32_t v) {
    static const char hex[] = "0123456789abcdef";
    ep_puts("0x");
    for (int i = 28; i >= 0; i -= 4) bsp_uart_putc((uint8_t)hex[(v >> i) & 0xFu]);
}

/* Called with the exception frame the fault stacked (r0-r3, r12, lr, pc, xpsr). */
__attribute__((used)) void ep_fault_report(const uint32_t *frame) {
    ep_puts("\nFAULT HardFault pc=");
    ep_put_hex32(frame[6]);
    ep_puts(" lr=");
    ep_put_hex32(frame[5]);
#if !defined(__ARM_ARCH_6M__)
    ep_puts(" cfsr=");
    ep_put_hex32(*(volatile uint32_t *)0xE000ED28u);
    ep_puts(" hfsr=");
    ep_put_hex32(*(volatile uint32_t *)0xE000ED2Cu);
#endif
    ep_puts("\n");
    bsp_uart_flush();
    ep_exit(EP_EXIT_FAULT);
}

__attribute__((naked)) void HardFault_Handler(void) {
    /* Pick the stack the fault frame is on (MSP or PSP) from EXC_RETURN bit 2. */
    __asm volatile(
        "movs r0, #4\n"
        "mov r1, lr\n"
        "tst r0, r1\n"
        "bne 1f\n"
        "mrs r0, msp\n"
        "b 2f\n"
        "1: mrs r0, psp\n"
        "2: ldr r1, =ep_fault_report\n"
        "bx r1\n");
}

#if EP_SEMIHOSTING
/* One semihosting call (Arm semihosting v2: operation in r0, argument block in r1, result in r0). */
static int32_t semihost(uint32_t op, const void *args) {
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = args;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}
#endif

/* Semihosting SYS_EXIT_EXTENDED (0x20): QEMU exits with `code`. On silicon a BKPT without a debugger
 * faults, so real boards park the core instead. */
void ep_exit(int code) {
#if EP_SEMIHOSTING
    uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    (void)semihost(0x20u, block);
#else
    (void)code;
#endif
    for (;;) {
    }
}

/* SYS_OPEN (0x01, mode 1 = "rb") once, then SYS_SEEK (0x0A) and SYS_READ (0x06, which returns the
 * number of bytes it did NOT read). */
int ep_host_read(const char *path, uint32_t offset, void *dst, uint32_t len) {
#if EP_SEMIHOSTING
    static int32_t handle = -1;
    if (handle < 0) {
        uint32_t n = 0;
        while (path[n]) n++;
        uint32_t open_args[3] = {(uint32_t)(uintptr_t)path, 1u, n};
        handle = semihost(0x01u, open_args);
        if (handle < 0) return -1;
    }
    uint32_t seek_args[2] = {(uint32_t)handle, offset};
    if (semihost(0x0Au, seek_args) != 0) return -1;
    uint32_t read_args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)dst, len};
    return semihost(0x06u, read_args) == 0 ? 0 : -1;
#else
    (void)path;
    (void)offset;
    (void)dst;
    (void)len;
    return -1;
#endif
}
