#!/usr/bin/env bash
# TAP suite for `make test`: replays every file of test/fuzz/seeds/ (the stub's real
# responses) and test/fuzz/regressions/ (inputs that once crashed, leaked or broke an
# invariant) through the fuzzing entry point, built without libFuzzer, one line per file.
# With clang and its sanitizer runtime the replay runs under ASan, LeakSanitizer and UBSan;
# without them it falls back to gcc without sanitizers, and says so. Exits non-zero on
# any failure.
set -uo pipefail

fuzz=$(cd "$(dirname "$0")" && pwd)
vars=()
probe=$(mktemp -d /tmp/rk-fuzz-probe.XXXXXX)
trap 'rm -rf "$probe"' EXIT

# Whether clang can build and run a program with the sanitizers.
sanitizers_work() {
    command -v "${CLANG:-clang}" >/dev/null 2>&1 || return 1
    echo 'int main(void) { return 0; }' >"$probe/probe.c"
    "${CLANG:-clang}" -fsanitize=address,undefined "$probe/probe.c" -o "$probe/probe" \
        >/dev/null 2>&1 && "$probe/probe"
}

if sanitizers_work; then
    echo "# replaying under ASan, LeakSanitizer and UBSan (clang)"
else
    echo "# clang or its sanitizer runtime is missing: replaying with gcc, without sanitizers"
    vars=(REPLAY_CC=gcc REPLAY_SANITIZE=)
fi

if ! make -s --no-print-directory -C "$fuzz" replay-bin "${vars[@]}" >"$probe/build.log" 2>&1; then
    echo "1..1"
    echo "not ok 1 - build the replay binary"
    sed 's/^/# /' "$probe/build.log"
    exit 1
fi
make -s --no-print-directory -C "$fuzz" replay "${vars[@]}"
