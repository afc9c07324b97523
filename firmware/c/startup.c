/* Start-up for the C firmware on a Cortex-M4 (MPS2 AN386 under QEMU): the vector table, a
 * reset handler that turns on the FPU (the library is built for the hard-float ABI), copies
 * .data, clears .bss and calls main, and semihosting for output and exit. */
#include <stddef.h>
#include <stdint.h>

#include "semihosting.h"

extern uint32_t data_start, data_end, data_load, bss_start, bss_end, stack_top;
int main(void);

/* Semihosting operations (ARM's semihosting specification, version 2). */
#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023

static uintptr_t semihost(uintptr_t operation, const void *argument) {
  register uintptr_t r0 __asm__("r0") = operation;
  register const void *r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* The host's standard output: ":tt" opened for writing (mode 4, "w"), as the Rust firmware's
 * cortex-m-semihosting opens it. */
static uintptr_t host_stdout(void) {
  static uintptr_t handle;
  static int opened;
  if (!opened) {
    const uintptr_t arguments[3] = {(uintptr_t) ":tt", 4, 3};
    handle = semihost(SYS_OPEN, arguments);
    opened = 1;
  }
  return handle;
}

void semihosting_write(const char *text) {
  uintptr_t arguments[3];
  size_t length = 0;
  while (text[length] != '\0') {
    length++;
  }
  arguments[0] = host_stdout();
  arguments[1] = (uintptr_t)text;
  arguments[2] = length;
  semihost(SYS_WRITE, arguments);
}

void semihosting_exit(int success) {
  /* In the 32-bit interface the argument is the reason itself. */
  semihost(SYS_EXIT, (const void *)(uintptr_t)(success ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUN_TIME_ERROR));
  for (;;) {
    __asm__ volatile("wfi");
  }
}

void reset_handler(void);

void reset_handler(void) {
  uint32_t *from = &data_load, *to = &data_start;
  volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
  /* Full access to the coprocessors 10 and 11: the FPU. */
  *cpacr |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  while (to < &data_end) {
    *to++ = *from++;
  }
  for (to = &bss_start; to < &bss_end; to++) {
    *to = 0;
  }
  semihosting_exit(main() == 0);
}

static void fault_handler(void) {
  semihosting_write("fault\n");
  semihosting_exit(0);
}

/* The initial stack pointer, then the handlers: reset, NMI, hard fault, memory management,
 * bus fault, usage fault. */
struct vector_table {
  const uint32_t *stack;
  void (*handlers[6])(void);
};

__attribute__((section(".vectors"), used)) static const struct vector_table vectors = {
    &stack_top, {reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler}};
