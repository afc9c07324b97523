#!/usr/bin/env bash
# The Java wrapper's tests, in plain Java over JNA (Debian's libjna-java): builds the shared
# library and the CLI, writes the tests' data from test-vectors/, compiles the wrapper and the
# tests with javac and runs them. No Gradle or Maven.
set -euo pipefail
cd "$(dirname "$0")/../.."
jna=${JNA_JAR:-/usr/share/java/jna.jar}
[ -f "$jna" ] || { echo "JNA not found at $jna (Debian package libjna-java)"; exit 1; }
out=target/ffi-java
rm -rf "$out" && mkdir -p "$out/classes"
cargo build --quiet --release -p bluezone-ffi -p bluezone-cli
target/release/bluezone match --keys test-vectors/export-samples/companion-demo_dks.zip \
  --encounters test-vectors/export-samples/companion-demo-encounters.csv --allow-unsigned --json \
  > "$out/companion.json" 2>/dev/null
python3 ffi/tests/vectors.py --lines "$out/companion.json" > "$out/vectors.txt"
javac -Xlint:all -Werror -cp "$jna" -d "$out/classes" \
  ffi/java/src/org/bluezone/Bluezone.java ffi/java/src/org/bluezone/Phone.java \
  ffi/java/test/org/bluezone/BluezoneTest.java
java -cp "$jna:$out/classes" -Djna.library.path="$PWD/target/release" \
  org.bluezone.BluezoneTest "$out/vectors.txt"

echo "the README's Java example:"
mkdir -p "$out/example"
sed -n '/^```java$/,/^```$/p' README.md | sed '1d;$d' > "$out/example/Example.java"
javac -Xlint:all -Werror -cp "$jna:$out/classes" -d "$out/example" "$out/example/Example.java"
printed=$(java -cp "$jna:$out/classes:$out/example" -Djna.library.path="$PWD/target/release" Example)
echo "$printed"
[ "$printed" = "4 keys matched, F1: yes" ] || { echo "the README's Java example printed something else"; exit 1; }

echo "the phone's loop in Java (ffi/java/examples/PhoneLoop.java):"
javac -Xlint:all -Werror -cp "$jna:$out/classes" -d "$out/example" ffi/java/examples/PhoneLoop.java
java -cp "$jna:$out/classes:$out/example" -Djna.library.path="$PWD/target/release" PhoneLoop \
  "$out/phone-loop" > "$out/phone-loop.txt"
cat "$out/phone-loop.txt"
bash ffi/tests/check_loop.sh "$out/phone-loop.txt" "$out/phone-loop"
