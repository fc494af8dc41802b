/* The board support interface the benchmark app is written against.
 *
 * Common Cortex-M code (startup, counters, exit, fault report) lives in boards/bsp/common/; each chip
 * family (boards/bsp/<family>/) provides bsp_init() and the three UART functions. Build settings come
 * from the generated ep_board_config.h (board id, counter, exit, clocks, pins from the board file).
 */
#ifndef EP_BSP_H
#define EP_BSP_H

#include <stdint.h>

#include "ep_board_config.h"

/* Family: clocks, pins, UART. Called by the reset handler before main(). */
void bsp_init(void);
void bsp_uart_putc(uint8_t c);
/* Block until all queued bytes have left the UART (before an exit). */
void bsp_uart_flush(void);
/* One received byte, or -1 after `spins` empty polls (spins == 0: wait forever). */
int bsp_uart_getc(uint32_t spins);

/* Common: the elapsed-count source (SysTick under QEMU -icount, DWT CYCCNT on silicon). */
void ep_counter_init(void);
uint64_t ep_counter_now(void);
/* Restart the count (and its phase) before a measurement: counts then repeat exactly. */
void ep_counter_restart(void);

/* Common: leave the firmware with `code` (semihosting SYS_EXIT_EXTENDED under emulation; on
 * silicon there is nobody to exit to, so it parks the core). */
void ep_exit(int code) __attribute__((noreturn));

/* Common: read `len` bytes at `offset` of the host file `path` (relative to QEMU's working
 * directory) into `dst` by semihosting: 0 on success, -1 if the file is missing or too short. The
 * file is opened on the first call and stays open. Emulated boards only: on silicon it returns -1
 * (a semihosting call without a debugger faults). */
int ep_host_read(const char *path, uint32_t offset, void *dst, uint32_t len);

/* Common: stack painted at reset; bytes of it ever used, and its size. */
uint32_t ep_stack_used(void);
uint32_t ep_stack_size(void);
/* The stack an engine call uses: sp = ep_stack_pointer() before the call, ep_stack_repaint(), the
 * call, then ep_stack_depth_below(sp) (bytes below sp touched since; ep_stack_used keeps counting
 * the whole high-water mark across repaints). */
uintptr_t ep_stack_pointer(void);
void ep_stack_repaint(void);
uint32_t ep_stack_depth_below(uintptr_t sp);

void ep_puts(const char *s);
void ep_put_hex32(uint32_t v);

#define EP_EXIT_OK 0
#define EP_EXIT_FAULT 3

#endif /* EP_BSP_H */
