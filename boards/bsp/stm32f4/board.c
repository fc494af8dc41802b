/* STM32F4: clock tree (HSI -> PLL) and USART (legacy SR/DR/BRR/CR1 layout), no vendor SDK.
 * Every number comes from the board file's [bsp] table (EP_*), e.g. nucleo-f446re:
 * HSI 16 MHz / PLL_M 8 * PLL_N 180 / PLL_P 2 = 180 MHz, with over-drive and 5 flash wait states.
 * RM0390 (STM32F446) / RM0090 (STM32F405) register maps. */
#include <stdint.h>

#include "bsp.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define RCC_CR REG(0x40023800u)
#define RCC_PLLCFGR REG(0x40023804u)
#define RCC_CFGR REG(0x40023808u)
#define RCC_AHB1ENR REG(0x40023830u)
#define RCC_APB1ENR REG(0x40023840u)
#define RCC_APB2ENR REG(0x40023844u)
#define PWR_CR REG(0x40007000u)
#define PWR_CSR REG(0x40007004u)
#define FLASH_ACR REG(0x40023C00u)
#define GPIO_BASE(port) (0x40020000u + 0x400u * (port))

#define USART_SR REG(EP_UART_BASE + 0x00u)
#define USART_DR REG(EP_UART_BASE + 0x04u)
#define USART_BRR REG(EP_UART_BASE + 0x08u)
#define USART_CR1 REG(EP_UART_BASE + 0x0Cu)
#define SR_RXNE (1u << 5)
#define SR_TC (1u << 6)
#define SR_TXE (1u << 7)

#if EP_CLOCK_SETUP
static uint32_t apb_div_bits(uint32_t div) {
    /* PPRE encoding: 1 -> 0b000, 2 -> 0b100, 4 -> 0b101, 8 -> 0b110, 16 -> 0b111 */
    switch (div) {
        case 2: return 4u;
        case 4: return 5u;
        case 8: return 6u;
        case 16: return 7u;
        default: return 0u;
    }
}
#endif

static void clock_init(void) {
#if EP_CLOCK_SETUP
    RCC_APB1ENR |= 1u << 28;                       /* PWREN */
    PWR_CR |= 3u << 14;                            /* VOS: scale 1 */
    RCC_CR |= 1u;                                  /* HSION */
    while (!(RCC_CR & (1u << 1))) {
    }
    RCC_PLLCFGR = (EP_PLL_M) | (EP_PLL_N << 6) | (((EP_PLL_P / 2u) - 1u) << 16) |
                  (0u << 22) /* PLLSRC = HSI */ | (EP_PLL_Q << 24) | (EP_PLL_R << 28);
    RCC_CR |= 1u << 24;                            /* PLLON */
    while (!(RCC_CR & (1u << 25))) {
    }
#if EP_OVERDRIVE
    PWR_CR |= 1u << 16;                            /* ODEN */
    while (!(PWR_CSR & (1u << 16))) {
    }
    PWR_CR |= 1u << 17;                            /* ODSWEN */
    while (!(PWR_CSR & (1u << 17))) {
    }
#endif
    FLASH_ACR = EP_FLASH_LATENCY | (1u << 8) | (1u << 9) | (1u << 10); /* PRFTEN ICEN DCEN */
    while ((FLASH_ACR & 0xFu) != EP_FLASH_LATENCY) {
    }
    RCC_CFGR = (apb_div_bits(EP_APB1_DIV) << 10) | (apb_div_bits(EP_APB2_DIV) << 13);
    RCC_CFGR |= 2u;                                /* SW = PLL */
    while (((RCC_CFGR >> 2) & 3u) != 2u) {
    }
#endif
}

static void uart_pins_init(void) {
    uint32_t gpio = GPIO_BASE(EP_UART_GPIO_PORT);
    RCC_AHB1ENR |= 1u << EP_UART_GPIO_PORT;
    const uint32_t pins[2] = {EP_UART_TX_PIN, EP_UART_RX_PIN};
    for (int i = 0; i < 2; i++) {
        uint32_t p = pins[i];
        REG(gpio + 0x00u) = (REG(gpio + 0x00u) & ~(3u << (2 * p))) | (2u << (2 * p)); /* AF mode */
        uint32_t afr = gpio + (p < 8 ? 0x20u : 0x24u);
        uint32_t shift = 4u * (p & 7u);
        REG(afr) = (REG(afr) & ~(0xFu << shift)) | ((uint32_t)EP_UART_AF << shift);
    }
}

void bsp_init(void) {
    clock_init();
    if (EP_UART_RCC_APB == 1) RCC_APB1ENR |= 1u << EP_UART_RCC_BIT;
    else RCC_APB2ENR |= 1u << EP_UART_RCC_BIT;
    uart_pins_init();
    USART_BRR = (EP_UART_PCLK_HZ + EP_UART_BAUD / 2u) / EP_UART_BAUD; /* oversampling 16 */
    USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2);                  /* UE TE RE */
}

void bsp_uart_putc(uint8_t c) {
    while (!(USART_SR & SR_TXE)) {
    }
    USART_DR = c;
}

void bsp_uart_flush(void) {
    while (!(USART_SR & SR_TC)) {
    }
}

int bsp_uart_getc(uint32_t spins) {
    for (uint32_t n = 0; spins == 0 || n < spins; n++) {
        if (USART_SR & SR_RXNE) return (int)(USART_DR & 0xFFu);
    }
    return -1;
}
