#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*.swift) into .build-fuzz/: each target is compiled together
# with the project sources it exercises, with -sanitize=fuzzer,address.
#   fuzz/build.sh            every target
#   fuzz/build.sh json sse   some of them
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if ! command -v swiftc >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swiftc ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi
OUT=.build-fuzz
mkdir -p "$OUT/include"
# Every source of GatewayCore, its folders included.
mapfile -t CORE < <(find Sources/GatewayCore -name "*.swift" | sort)
FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -module-cache-path "$OUT/module-cache")

# http-parser through the project's C shim header, as a module of its own.
cat >"$OUT/include/module.modulemap" <<MAP
module CGatewayShims {
    header "$ROOT/Sources/CGatewayShims/include/CGatewayShims.h"
    export *
}
MAP

build() {
    local name=$1
    shift
    echo "fuzz/build.sh: $name" >&2
    # (ld.gold warns about every ASan helper symbol; the warnings say nothing about the target)
    swiftc "${FLAGS[@]}" -module-name "Fuzz_$name" -o "$OUT/fuzz-$name" "$@" "fuzz/$name.swift" 2> >(grep -v "Cannot export local symbol" >&2)
}

# GatewayCore as a module of its own, for targets whose sources import it.
core_module() {
    if [ -f "$OUT/mods/GatewayCore.swiftmodule" ] && [ -f "$OUT/libGatewayCore.a" ] && \
       [ -z "$(find Sources/GatewayCore -newer "$OUT/libGatewayCore.a" -print -quit)" ]; then
        return 0  # up to date
    fi
    mkdir -p "$OUT/mods"
    echo "fuzz/build.sh: GatewayCore module" >&2
    swiftc "${FLAGS[@]}" -module-name GatewayCore -emit-module -emit-module-path "$OUT/mods/GatewayCore.swiftmodule" \
        -emit-library -static -o "$OUT/libGatewayCore.a" "${CORE[@]}" 2> >(grep -v "Cannot export local symbol" >&2)
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json sse session http)
for t in "${targets[@]}"; do
    case "$t" in
        json|sse|session) build "$t" "${CORE[@]}" ;;
        http) core_module && build http -I "$OUT/include" -I "$OUT/mods" -L "$OUT" -lGatewayCore \
                  Sources/HTTP/RequestParser.swift Sources/HTTP/HTTPRequest.swift -lhttp_parser ;;
        *) echo "fuzz/build.sh: unknown target $t" >&2; exit 2 ;;
    esac
done
