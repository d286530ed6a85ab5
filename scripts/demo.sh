#!/usr/bin/env bash
# The main job: the lm3s6965 firmware in QEMU on the shipped int8 model; the emulated OLED is
# written to demo-screen.png and printed as ASCII art. Usage: scripts/demo.sh [FRAME]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
cargo run -q --release -p gan-tests --bin demo -- "${1:-0}" demo-screen.png
