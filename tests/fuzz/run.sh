#!/usr/bin/env bash
# Builds the protocol fuzz target with clang's libFuzzer (ASan + UBSan) and runs it for a short,
# bounded time from a seed corpus of valid messages. Usage: run.sh SOURCE_DIR WORK_DIR [SECONDS]
set -euo pipefail
SRC=$1; WORK=$2; SECONDS_TO_RUN=${3:-20}
mkdir -p "$WORK/corpus"
# clang++-14 first: Debian's clang-14 installs only that name, and libclang-rt-14-dev holds its
# libFuzzer; a plain clang++ (another version, perhaps without its runtime) is the fallback.
CXX=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
[ -n "$CXX" ] && command -v "$CXX" >/dev/null \
  || { echo "no ${CXX:-clang++-14 or clang++}: install clang-14 and libclang-rt-14-dev"; exit 1; }
echo "fuzz: $CXX"
"$CXX" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -DMSGPACK_NO_BOOST -DMSGPACK_DEFAULT_API_VERSION=3 -I"$SRC/protocol/include" \
  "$SRC/tests/fuzz/protocol_fuzz.cpp" "$SRC/protocol/src/codec.cpp" -o "$WORK/protocol_fuzz"
# Seeds: real envelopes, so the fuzzer starts past the signature and version checks.
"$CXX" -std=c++20 -O1 -DMSGPACK_NO_BOOST -DMSGPACK_DEFAULT_API_VERSION=3 -I"$SRC/protocol/include" \
  "$SRC/tests/fuzz/make_seeds.cpp" "$SRC/protocol/src/codec.cpp" -lzmq -o "$WORK/make_seeds"
"$WORK/make_seeds" "$WORK/corpus"
"$WORK/protocol_fuzz" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=1024 -max_len=4096 \
  -print_final_stats=1 "$WORK/corpus" 2>&1 | tail -15
