/* STM32L4+ (L4R5): clock tree (HSI16 -> PLL, range-1 boost) and LPUART1/USART (ISR/TDR/RDR layout),
 * no vendor SDK. Numbers come from the board file's [bsp] table, e.g. nucleo-l4r5zi:
 * HSI16 / PLL_M 2 * PLL_N 30 / PLL_R 2 = 120 MHz, 5 flash wait states. RM0432 register map.
 * Not yet run on silicon (the board file says verified = false). */
#include <stdint.h>

#include "bsp.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_CR REG(0x40021000u)
#define RCC_CFGR REG(0x40021008u)
#define RCC_PLLCFGR REG(0x4002100Cu)
#define RCC_AHB2ENR REG(0x4002104Cu)
#define RCC_APB1ENR1 REG(0x40021058u)
#define RCC_APB1ENR2 REG(0x4002105Cu)
#define PWR_CR1 REG(0x40007000u)
#define PWR_CR2 REG(0x40007004u)
#define PWR_SR2 REG(0x40007014u)
#define PWR_CR5 REG(0x40007080u)
#define FLASH_ACR REG(0x40022000u)
#define GPIO_BASE(port) (0x48000000u + 0x400u * (port))

#define UART_CR1 REG(EP_UART_BASE + 0x00u)
#define UART_CR3 REG(EP_UART_BASE + 0x08u)
#define UART_BRR REG(EP_UART_BASE + 0x0Cu)
#define UART_ISR REG(EP_UART_BASE + 0x1Cu)
#define UART_RDR REG(EP_UART_BASE + 0x24u)
#define UART_TDR REG(EP_UART_BASE + 0x28u)
#define ISR_RXNE (1u << 5)
#define ISR_TC (1u << 6)
#define ISR_TXE (1u << 7)

static void clock_init(void) {
#if EP_CLOCK_SETUP
    RCC_APB1ENR1 |= 1u << 28;                       /* PWREN */
    PWR_CR5 &= ~(1u << 8);                          /* R1MODE = 0: range 1 boost (> 80 MHz) */
    while (PWR_SR2 & (1u << 10)) {                  /* VOSF */
    }
    FLASH_ACR = (FLASH_ACR & ~0xFu) | EP_FLASH_LATENCY;
    while ((FLASH_ACR & 0xFu) != EP_FLASH_LATENCY) {
    }
    RCC_CR |= 1u << 8;                              /* HSION */
    while (!(RCC_CR & (1u << 10))) {
    }
    RCC_PLLCFGR = 2u /* HSI16 */ | ((EP_PLL_M - 1u) << 4) | (EP_PLL_N << 8) |
                  (((EP_PLL_R / 2u) - 1u) << 25) | (1u << 24) /* PLLREN */;
    RCC_CR |= 1u << 24;                             /* PLLON */
    while (!(RCC_CR & (1u << 25))) {
    }
    /* > 80 MHz in boost mode: pass through AHB / 2 for 1 us (RM0432 6.2.7) */
    RCC_CFGR = (RCC_CFGR & ~(0xFu << 4)) | (0x8u << 4);
    RCC_CFGR = (RCC_CFGR & ~3u) | 3u;               /* SW = PLL */
    while (((RCC_CFGR >> 2) & 3u) != 3u) {
    }
    for (volatile uint32_t i = 0; i < 200u; i++) {
    }
    RCC_CFGR &= ~(0xFu << 4);                       /* AHB / 1 */
#endif
}

static void uart_pins_init(void) {
    uint32_t gpio = GPIO_BASE(EP_UART_GPIO_PORT);
    RCC_AHB2ENR |= 1u << EP_UART_GPIO_PORT;
    if (EP_UART_GPIO_PORT == 6) {
        RCC_APB1ENR1 |= 1u << 28;                   /* PWREN */
        PWR_CR2 |= 1u << 9;                         /* IOSV: port G is powered from VddIO2 */
    }
    const uint32_t pins[2] = {EP_UART_TX_PIN, EP_UART_RX_PIN};
    for (int i = 0; i < 2; i++) {
        uint32_t p = pins[i];
        REG(gpio + 0x00u) = (REG(gpio + 0x00u) & ~(3u << (2 * p))) | (2u << (2 * p));
        uint32_t afr = gpio + (p < 8 ? 0x20u : 0x24u);
        uint32_t shift = 4u * (p & 7u);
        REG(afr) = (REG(afr) & ~(0xFu << shift)) | ((uint32_t)EP_UART_AF << shift);
    }
}

void bsp_init(void) {
    clock_init();
    uart_pins_init();
#if EP_UART_LPUART
    RCC_APB1ENR2 |= 1u;                             /* LPUART1EN */
    UART_BRR = (uint32_t)(((uint64_t)EP_UART_PCLK_HZ * 256u + EP_UART_BAUD / 2u) / EP_UART_BAUD);
#else
    UART_BRR = (EP_UART_PCLK_HZ + EP_UART_BAUD / 2u) / EP_UART_BAUD;
#endif
    /* OVRDIS: an overrun must not stop reception (ORE would block RXNE until cleared); a lost
     * byte is caught by the frame CRC and the host resends */
    UART_CR3 = 1u << 12;
    UART_CR1 = (1u << 3) | (1u << 2) | 1u;          /* TE RE UE */
}

void bsp_uart_putc(uint8_t c) {
    while (!(UART_ISR & ISR_TXE)) {
    }
    UART_TDR = c;
}

void bsp_uart_flush(void) {
    while (!(UART_ISR & ISR_TC)) {
    }
}

int bsp_uart_getc(uint32_t spins) {
    for (uint32_t n = 0; spins == 0 || n < spins; n++) {
        if (UART_ISR & ISR_RXNE) return (int)(UART_RDR & 0xFFu);
    }
    return -1;
}
