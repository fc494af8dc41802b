/* nRF51 UART (micro:bit v1): task/event registers, one byte at a time. nRF51 RM v3, chapter 29. */
#include <stdint.h>

#include "bsp.h"

#define UART_REG(off) (*(volatile uint32_t *)(EP_UART_BASE + (off)))
#define TASKS_STARTRX UART_REG(0x000u)
#define TASKS_STARTTX UART_REG(0x008u)
#define EVENTS_RXDRDY UART_REG(0x108u)
#define EVENTS_TXDRDY UART_REG(0x11Cu)
#define ENABLE UART_REG(0x500u)
#define PSELTXD UART_REG(0x50Cu)
#define PSELRXD UART_REG(0x514u)
#define RXD UART_REG(0x518u)
#define TXD UART_REG(0x51Cu)
#define BAUDRATE UART_REG(0x524u)

static int tx_started;

void bsp_init(void) {
    PSELTXD = 24u; /* micro:bit v1 USB-serial pins */
    PSELRXD = 25u;
    BAUDRATE = 0x01D7E000u; /* 115200 */
    ENABLE = 4u;
    TASKS_STARTTX = 1u;
    TASKS_STARTRX = 1u;
    tx_started = 0;
}

void bsp_uart_putc(uint8_t c) {
    if (tx_started) {
        while (!EVENTS_TXDRDY) {
        }
    }
    EVENTS_TXDRDY = 0;
    TXD = c;
    tx_started = 1;
}

void bsp_uart_flush(void) {
    if (tx_started) {
        while (!EVENTS_TXDRDY) {
        }
    }
}

int bsp_uart_getc(uint32_t spins) {
    for (uint32_t n = 0; spins == 0 || n < spins; n++) {
        if (EVENTS_RXDRDY) {
            EVENTS_RXDRDY = 0;
            return (int)(RXD & 0xFFu);
        }
    }
    return -1;
}
