#!/usr/bin/env bash
# The C ABI's tests: builds the static and the shared library, writes the tests' data from
# test-vectors/, compiles the C tests as C99 with every warning an error, and runs them
# against both libraries, the shared one under valgrind (any error or leak fails).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/ffi-tests
mkdir -p "$out"
cargo build --quiet --release -p bluezone-ffi -p bluezone-cli
target/release/bluezone match --keys test-vectors/export-samples/companion-demo_dks.zip \
  --encounters test-vectors/export-samples/companion-demo-encounters.csv --allow-unsigned --json \
  > "$out/companion.json" 2>/dev/null
python3 ffi/tests/vectors.py "$out/companion.json" > "$out/vectors.h"
flags=(-std=c99 -Wall -Wextra -Werror -pedantic -g -I ffi/include -I "$out")
gcc "${flags[@]}" ffi/tests/c/test_bluezone.c target/release/libbluezone_ffi.a -lpthread -ldl -lm \
  -o "$out/test_static"
gcc "${flags[@]}" ffi/tests/c/test_bluezone.c -L target/release -lbluezone_ffi \
  -Wl,-rpath,"$PWD/target/release" -o "$out/test_shared"
echo "static library:"
"$out/test_static"
echo "shared library, under valgrind:"
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  "$out/test_shared"

echo "the phone's loop in C (ffi/examples/phone_loop.c), under valgrind:"
gcc "${flags[@]}" ffi/examples/phone_loop.c -L target/release -lbluezone_ffi \
  -Wl,-rpath,"$PWD/target/release" -o "$out/phone_loop"
rm -rf "$out/phone-loop"
# The daily check's matching threads (rayon's pool) outlive main: "possibly lost" is theirs.
valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  --show-possibly-lost=no "$out/phone_loop" "$out/phone-loop" > "$out/phone-loop.txt"
cat "$out/phone-loop.txt"
bash ffi/tests/check_loop.sh "$out/phone-loop.txt" "$out/phone-loop"

echo "the core subset for firmware (thumbv7em-none-eabihf, no allocator):"
cargo rustc --quiet -p bluezone-ffi --release --no-default-features --features panic-handler \
  --target thumbv7em-none-eabihf --crate-type staticlib
firmware=target/thumbv7em-none-eabihf/release/libbluezone_ffi.a
symbols=$(nm "$firmware" 2>/dev/null)
if grep -qE '__rust_alloc|__rg_alloc|__rust_no_alloc_shim' <<<"$symbols"; then
  echo "the firmware library refers to an allocator"; exit 1
fi
core=(bz_version bz_error_message bz_status_text bz_interval_number bz_tek_from_entropy bz_rpis
  bz_aems bz_aem_decrypt bz_rpi_at bz_gaen_advertisement_encode bz_gaen_advertisement_parse
  bz_advertisement_classify bz_bluezone_identifier bz_bluezone_advertisement_encode
  bz_gaen_sighting_encode bz_bluezone_sighting_encode bz_sighting_decode bz_match_rules_default
  bz_band_matcher_init bz_band_matcher_check bz_band_matcher_counts bz_band_matcher_matched)
for name in "${core[@]}"; do
  grep -qE " T $name\$" <<<"$symbols" || { echo "the firmware library lacks $name"; exit 1; }
  grep -q "^bz_status $name(\|^const char \*$name(" ffi/include/bluezone.h \
    || { echo "the header lacks $name"; exit 1; }
done
echo "${#core[@]} core functions, no allocator: $(du -h "$firmware" | cut -f1) archive"

echo "the README's C example:"
sed -n '/^```c$/,/^```$/p' README.md | sed '1d;$d' > "$out/readme_example.c"
gcc "${flags[@]}" "$out/readme_example.c" -L target/release -lbluezone_ffi \
  -Wl,-rpath,"$PWD/target/release" -o "$out/readme_example"
printed=$(valgrind --quiet --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite,indirect "$out/readme_example")
echo "$printed"
[ "$printed" = "4 keys matched, F1: yes" ] || { echo "the README's C example printed something else"; exit 1; }
