#!/bin/sh
# Proves `make install` gives users what they need: headers, shared and
# static libraries, the rill tool, a pkg-config file and a CMake package.
#   install_test.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
libdir=$(find "$tmp/prefix" -name 'librill.so' -printf '%h\n' | head -n 1)
[ -n "$libdir" ] || { echo "FAIL: librill.so not installed"; exit 1; }
for f in include/rill/rill.h include/rill/core.h include/rill/version.h bin/rill; do
    [ -e "$tmp/prefix/$f" ] || { echo "FAIL: $f not installed"; exit 1; }
done
[ -e "$libdir/librill.a" ] || { echo "FAIL: librill.a not installed"; exit 1; }

# Only RILL_API symbols are exported from the shared library.
exported=$(nm -D --defined-only "$libdir/librill.so" | awk '{print $3}')
echo "$exported" | grep -qx rill_ring_create || { echo "FAIL: rill_ring_create not exported"; exit 1; }
if echo "$exported" | grep -q '^rill__'; then
    echo "FAIL: internal symbols exported:"; echo "$exported" | grep '^rill__'; exit 1
fi

# pkg-config consumer
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc "$src/tests/install/consumer/main.c" -o "$tmp/pc_consumer" \
   $(pkg-config --cflags --libs rill)
LD_LIBRARY_PATH="$libdir" "$tmp/pc_consumer"

# CMake consumer (shared and static)
cmake -S "$src/tests/install/consumer" -B "$tmp/cm" \
      -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/cmake.log"
cmake --build "$tmp/cm" > "$tmp/build.log"
LD_LIBRARY_PATH="$libdir" "$tmp/cm/consumer_shared"
"$tmp/cm/consumer_static"
"$tmp/prefix/bin/rill" --version
echo "install ok"
