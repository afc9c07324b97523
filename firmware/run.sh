#!/usr/bin/env bash
# The wristband: builds the firmware for thumbv7em-none-eabihf, runs its tests under
# qemu-system-arm (MPS2 with the AN386 image, a Cortex-M4) with a virtual clock of one
# nanosecond per instruction, so that the instruction counts it prints repeat exactly, and
# measures the matcher's flash and RAM with arm-none-eabi-size (Debian packages
# qemu-system-arm and binutils-arm-none-eabi).
set -euo pipefail
cd "$(dirname "$0")"
for tool in qemu-system-arm arm-none-eabi-size; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed"; exit 1; }
done
cargo build --quiet --release
elf=target/thumbv7em-none-eabihf/release
status=0
output=$(timeout 300 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none \
  -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf/bluezone-firmware") \
  || status=$?
echo "$output"
if [ "$status" -ne 0 ] || ! grep -qE '^[0-9]+ passed, 0 failed$' <<<"$output"; then
  echo "the firmware's tests failed (exit $status)"
  exit 1
fi
read -r text data bss _ < <(arm-none-eabi-size "$elf/matcher-size" | tail -n 1)
echo "matcher: flash $text bytes (code and constants, with the start-up code), RAM $((data + bss)) bytes static; the stack, log and table above"
