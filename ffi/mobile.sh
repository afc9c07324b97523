#!/usr/bin/env bash
# The C library as static libraries for the phones' targets, with the layouts a mobile team
# takes next, and a check that each library exports exactly the functions of the header.
#
#   bash ffi/mobile.sh [OUT]      (OUT: target/mobile by default)
#
# Built with the MSRV toolchain (Cargo.toml's rust-version), whose standard library is
# published for all five targets. A static library needs neither the Android NDK nor Xcode:
# no linker runs. OUT then holds:
#   android/jniLibs/<abi>/libbluezone_ffi.a   static libraries by Android ABI name
#   ios/BluezoneFFI.xcframework/               the XCFramework layout of the two iOS archives
#   ios/Package.swift                          a Swift package whose binary target it is
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/mobile}
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
nm_tool=$(command -v llvm-nm || true)
[ -n "$nm_tool" ] || { echo "llvm-nm is needed to read Mach-O and ELF archives alike"; exit 1; }

declare -A abi=(
  [aarch64-linux-android]=arm64-v8a
  [armv7-linux-androideabi]=armeabi-v7a
  [x86_64-linux-android]=x86_64
  [aarch64-apple-ios]=ios-arm64
  [aarch64-apple-ios-sim]=ios-arm64-simulator
)
rustup target add --toolchain "$msrv" "${!abi[@]}" >/dev/null

# The functions the header declares.
expected=$(grep -o '\bbz_[a-z0-9_]*(' ffi/include/bluezone.h | tr -d '(' | sort -u)
rm -rf "$out"
failed=0
for target in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android aarch64-apple-ios aarch64-apple-ios-sim; do
  started=$SECONDS
  RUSTFLAGS="-D warnings" cargo "+$msrv" rustc --quiet -p bluezone-ffi --release \
    --target "$target" --crate-type staticlib
  lib="target/$target/release/libbluezone_ffi.a"
  # Mach-O prefixes C symbols with an underscore.
  # llvm-nm exits non-zero over archive members without symbols; the list is what counts.
  exported=$({ "$nm_tool" -g --defined-only "$lib" 2>/dev/null || true; } \
    | awk '$2 == "T" {print $3}' | sed 's/^_//' | grep '^bz_' | sort -u)
  if [ "$exported" = "$expected" ]; then
    verdict="exports the header's $(wc -l <<<"$expected") functions"
  else
    verdict="differs from the header:"$'\n'"$(diff <(echo "$expected") <(echo "$exported") || true)"
    failed=1
  fi
  case "$target" in
    *android*) dest="$out/android/jniLibs/${abi[$target]}" ;;
    *) dest="$out/ios/BluezoneFFI.xcframework/${abi[$target]}" ;;
  esac
  mkdir -p "$dest"
  cp "$lib" "$dest/"
  echo "$target (${abi[$target]}): $(du -h "$lib" | cut -f1), $verdict ($((SECONDS - started)) s)"
done

# The XCFramework layout xcodebuild -create-xcframework writes: each slice with its headers,
# and an Info.plist naming them.
framework="$out/ios/BluezoneFFI.xcframework"
for slice in ios-arm64 ios-arm64-simulator; do
  mkdir -p "$framework/$slice/Headers"
  cp ffi/include/bluezone.h "$framework/$slice/Headers/"
  sed 's|"../include/bluezone.h"|"bluezone.h"|' ffi/swift/module.modulemap > "$framework/$slice/Headers/module.modulemap"
done
cat > "$framework/Info.plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>AvailableLibraries</key>
  <array>
    <dict>
      <key>HeadersPath</key><string>Headers</string>
      <key>LibraryIdentifier</key><string>ios-arm64</string>
      <key>LibraryPath</key><string>libbluezone_ffi.a</string>
      <key>SupportedArchitectures</key><array><string>arm64</string></array>
      <key>SupportedPlatform</key><string>ios</string>
    </dict>
    <dict>
      <key>HeadersPath</key><string>Headers</string>
      <key>LibraryIdentifier</key><string>ios-arm64-simulator</string>
      <key>LibraryPath</key><string>libbluezone_ffi.a</string>
      <key>SupportedArchitectures</key><array><string>arm64</string></array>
      <key>SupportedPlatform</key><string>ios</string>
      <key>SupportedPlatformVariant</key><string>simulator</string>
    </dict>
  </array>
  <key>CFBundlePackageType</key><string>XFWK</string>
  <key>XCFrameworkFormatVersion</key><string>1.0</string>
</dict>
</plist>
PLIST
cp ffi/swift/Package.swift "$out/ios/Package.swift"
python3 - "$framework/Info.plist" <<'PY'
import plistlib, sys
with open(sys.argv[1], "rb") as f:
    plist = plistlib.load(f)
ids = sorted(lib["LibraryIdentifier"] for lib in plist["AvailableLibraries"])
assert ids == ["ios-arm64", "ios-arm64-simulator"], ids
print("XCFramework Info.plist reads:", ", ".join(ids))
PY
exit "$failed"
