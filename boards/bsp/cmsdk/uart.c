/* Arm CMSDK APB UART (MPS2 / MPS3 FPGA images and their QEMU models).
 * DATA +0x00, STATE +0x04 (bit0 TX full, bit1 RX full), CTRL +0x08 (bit0 TX en, bit1 RX en),
 * BAUDDIV +0x10 (= peripheral clock / baud; QEMU ignores it, the FPGA does not). */
#include <stdint.h>

#include "bsp.h"

#define UART_REG(off) (*(volatile uint32_t *)(EP_UART_BASE + (off)))
#define UART_DATA UART_REG(0x00u)
#define UART_STATE UART_REG(0x04u)
#define UART_CTRL UART_REG(0x08u)
#define UART_BAUDDIV UART_REG(0x10u)

void bsp_init(void) {
    UART_BAUDDIV = EP_CLOCK_HZ / EP_UART_BAUD;
    UART_CTRL = 0x3u;
}

void bsp_uart_putc(uint8_t c) {
    while (UART_STATE & 0x1u) {
    }
    UART_DATA = c;
}

void bsp_uart_flush(void) {
    while (UART_STATE & 0x1u) {
    }
}

int bsp_uart_getc(uint32_t spins) {
    for (uint32_t n = 0; spins == 0 || n < spins; n++) {
        if (UART_STATE & 0x2u) return (int)(UART_DATA & 0xFFu);
    }
    return -1;
}
