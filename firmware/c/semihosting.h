/* Output and exit through the debugger (QEMU's -semihosting), as startup.c provides them. */
#ifndef SEMIHOSTING_H
#define SEMIHOSTING_H

/* Writes a NUL-terminated string to the host's console. */
void semihosting_write(const char *text);

/* Ends the program: QEMU exits with status 0 when `success` is not 0, 1 otherwise. */
void semihosting_exit(int success);

#endif
