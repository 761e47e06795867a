#!/usr/bin/env bash
# Builds a fuzz target with clang's libFuzzer (ASan + UBSan) and runs it for a short, bounded time
# from a seed corpus. Usage: run.sh SOURCE_DIR WORK_DIR [SECONDS] [TARGET]
# TARGET: protocol (the decoder, seeded with valid messages; the default) or planes (the
# plane-layout checks, from an empty corpus).
set -euo pipefail
SRC=$1; WORK=$2; SECONDS_TO_RUN=${3:-20}; TARGET=${4:-protocol}
CORPUS="$WORK/corpus"
[ "$TARGET" = protocol ] || CORPUS="$WORK/$TARGET-corpus"
mkdir -p "$CORPUS"
# clang++-14 first: Debian's clang-14 installs only that name, and libclang-rt-14-dev holds its
# libFuzzer; a plain clang++ (another version, perhaps without its runtime) is the fallback.
CXX=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
[ -n "$CXX" ] && command -v "$CXX" >/dev/null \
  || { echo "no ${CXX:-clang++-14 or clang++}: install clang-14 and libclang-rt-14-dev"; exit 1; }
echo "fuzz: $CXX, target $TARGET"
FLAGS=(-std=c++20 -DMSGPACK_NO_BOOST -DMSGPACK_DEFAULT_API_VERSION=3 -I"$SRC/protocol/include")
PROTOCOL_SOURCES=("$SRC/protocol/src/codec.cpp" "$SRC/protocol/src/planes.cpp")
"$CXX" "${FLAGS[@]}" -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  "$SRC/tests/fuzz/${TARGET}_fuzz.cpp" "${PROTOCOL_SOURCES[@]}" -o "$WORK/${TARGET}_fuzz"
if [ "$TARGET" = protocol ]; then
  # Seeds: real envelopes, so the fuzzer starts past the signature and version checks.
  "$CXX" "${FLAGS[@]}" -O1 "$SRC/tests/fuzz/make_seeds.cpp" "${PROTOCOL_SOURCES[@]}" -lzmq \
    -o "$WORK/make_seeds"
  "$WORK/make_seeds" "$CORPUS"
fi
"$WORK/${TARGET}_fuzz" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=1024 -max_len=4096 \
  -print_final_stats=1 "$CORPUS" 2>&1 | tail -15
