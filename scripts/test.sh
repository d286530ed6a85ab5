#!/usr/bin/env bash
# Every check of the project, from a fresh Debian machine: set-up, formatting, lints, docs,
# host tests (incl. the QEMU tests), the no_std builds and every board's firmware.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { printf '\n==> %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "cargo fmt --check (workspace and boards)"
cargo fmt --all -- --check
# Firmware crates are the board directories with their own target configuration.
boards() { for b in boards/*/; do if [ -f "$b.cargo/config.toml" ]; then echo "$b"; fi; done; }
for b in boards/*/; do (cd "$b" && cargo fmt -- --check); done

step "clippy -D warnings (host workspace)"
cargo clippy --workspace --all-targets --release -- -D warnings

step "clippy -D warnings (gan-infer no_std, firmware)"
cargo clippy -p gan-infer --target thumbv7m-none-eabi --features defmt,graphics -- -D warnings
for b in $(boards); do (cd "$b" && cargo clippy --release -- -D warnings); done
(cd boards/embed-model && cargo clippy -- -D warnings)

step "rustdoc without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc -q --no-deps -p gan-infer -p counter-scene --features gan-infer/std

step "no_std builds of gan-infer (no std-only crate in its tree)"
for t in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf; do
  cargo build -q -p gan-infer --target "$t"
  cargo build -q -p gan-infer --target "$t" --features defmt,graphics
done
if cargo tree -p gan-infer -e normal --target thumbv7m-none-eabi --prefix none | grep -Eq '^(std|alloc) '; then
  echo "gan-infer pulls a std-only crate"; exit 1
fi

step "firmware builds for every board"
for b in $(boards); do echo "  $b"; (cd "$b" && cargo build -q --release); done

step "tests (host, trainer, exporter, QEMU)"
cargo test --workspace --release

echo
echo "all checks passed"
