#!/usr/bin/env bash
# The wristband, twice: the Rust firmware (src/) and the C firmware (c/), which links the C
# ABI's static library. Both are built for thumbv7em-none-eabihf with the same profile (fat
# LTO, opt-level 3, one codegen unit, panic=abort, and the flags of .cargo/config.toml: the
# aes crate's compact backend, LLVM's inline threshold at 400) and run
# under qemu-system-arm (MPS2 with the AN386 image, a Cortex-M4) with a virtual clock of one
# nanosecond per instruction, so that the instruction counts they print repeat exactly. Both
# hold the band matcher to what the library's main matcher gives the same data (build.rs).
# The C firmware's instructions per key must be within 5 % of the Rust firmware's. Flash is
# measured with arm-none-eabi-size on a program that holds the matcher alone, one per
# language. Debian packages: qemu-system-arm, binutils-arm-none-eabi, gcc-arm-none-eabi.
set -euo pipefail
cd "$(dirname "$0")"
for tool in qemu-system-arm arm-none-eabi-size arm-none-eabi-gcc python3; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed"; exit 1; }
done
qemu=(qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic -monitor none
  -semihosting-config enable=on,target=native -icount shift=0 -kernel)

# Runs an image; prints what it printed; fails unless it passed every check.
run() {
  local status=0 output
  output=$(timeout 300 "${qemu[@]}" "$1") || status=$?
  echo "$output" >&2
  if [ "$status" -ne 0 ] || ! grep -qE '^[0-9]+ passed, 0 failed$' <<<"$output"; then
    echo "$2: the tests failed (exit $status)" >&2
    exit 1
  fi
  echo "$output"
}

# Rust. The build script writes the test data for both firmwares into its OUT_DIR.
out_dir=$(cargo build --quiet --release --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "build-script-executed" and "bluezone-firmware" in message["package_id"]:
        print(message["out_dir"])')
elf=target/thumbv7em-none-eabihf/release
rust=$(run "$elf/bluezone-firmware" "Rust firmware" 2>/dev/null)
echo "$rust"
read -r text data bss _ < <(arm-none-eabi-size "$elf/matcher-size" | tail -n 1)
rust_flash=$text
echo "matcher: flash $text bytes (code and constants, with the start-up code), RAM $((data + bss)) bytes static; the stack, log and table above"

# C. The static library as a C firmware team builds it, with the Rust firmware's profile.
c_target=target/c
(cd .. && RUSTFLAGS='--cfg aes_backend_soft="compact" -C llvm-args=-inline-threshold=400' \
  CARGO_PROFILE_RELEASE_LTO=fat \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  CARGO_PROFILE_RELEASE_PANIC=abort cargo rustc --quiet -p bluezone-ffi --release \
  --no-default-features --features panic-handler --target thumbv7em-none-eabihf \
  --target-dir "firmware/$c_target" --crate-type staticlib)
library=$c_target/thumbv7em-none-eabihf/release/libbluezone_ffi.a
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic -O2 -g -mcpu=cortex-m4 -mthumb -mfloat-abi=hard
  -mfpu=fpv4-sp-d16 -ffreestanding -ffunction-sections -fdata-sections -nostdlib
  -Wl,--gc-sections -Wl,--no-warn-execstack -T c/link.ld -I ../ffi/include -I c)
arm-none-eabi-gcc "${cflags[@]}" -I "$out_dir" c/main.c c/startup.c "$library" -lgcc \
  -o "$c_target/firmware.elf"
arm-none-eabi-gcc "${cflags[@]}" c/matcher_size.c c/startup.c "$library" -lgcc \
  -o "$c_target/matcher-size.elf"
c=$(run "$c_target/firmware.elf" "C firmware")
read -r c_flash _ < <(arm-none-eabi-size "$c_target/matcher-size.elf" | tail -n 1)

per_key() { sed -nE 's/^instructions per key: full day ([0-9]+), sparse day ([0-9]+)$/\1 \2/p' <<<"$1"; }
read -r rust_full rust_sparse < <(per_key "$rust")
read -r c_full c_sparse < <(per_key "$c")
read -r c_passed c_failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' <<<"$c")
echo "C firmware: $c_passed passed, $c_failed failed; instructions per key: full day $c_full, sparse day $c_sparse; flash $c_flash bytes"
python3 - "$rust_full" "$rust_sparse" "$c_full" "$c_sparse" "$rust_flash" "$c_flash" <<'PY'
import sys
rust_full, rust_sparse, c_full, c_sparse, rust_flash, c_flash = map(int, sys.argv[1:])
ratios = {"full day": c_full / rust_full, "sparse day": c_sparse / rust_sparse}
print("C against Rust: instructions per key " + ", ".join(f"{k} {v:.3f}x" for k, v in ratios.items())
      + f"; flash {c_flash / rust_flash:.3f}x")
over = [k for k, v in ratios.items() if v > 1.05]
if over:
    sys.exit(f"the C firmware takes more than 5 % more instructions per key than the Rust firmware: {', '.join(over)}")
PY
