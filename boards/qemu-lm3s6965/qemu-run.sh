#!/usr/bin/env bash
# cargo runner: the firmware in QEMU's lm3s6965evb; defmt frames decoded when defmt-print exists.
set -euo pipefail
elf="$1"; shift
qemu=(qemu-system-arm -cpu cortex-m3 -machine lm3s6965evb -semihosting-config enable=on,target=native "$@" -kernel "$elf")
if [ -z "${DISPLAY:-}" ]; then qemu+=(-nographic); fi
if command -v defmt-print >/dev/null; then
  set -o pipefail
  "${qemu[@]}" | defmt-print -e "$elf"
else
  echo "(defmt-print not installed: the log below is undecoded; 'cargo install defmt-print')" >&2
  "${qemu[@]}"
fi
