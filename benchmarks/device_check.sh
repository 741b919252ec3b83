#!/usr/bin/env bash
# Accelerator check for one GPU, in <= 8 minutes (issue 12):
#   1. prints the device (nvidia-smi, JAX's devices);
#   2. benchmarks/bench_mfu.py at paper shapes: WRN-40-10 and ViT-B/4, batch 128, float32 and
#      bfloat16, MFU against the device's peak (<= 180 s);
#   3. trains WRN-16-8 on FashionMNIST with mixup (experiments/configs/wrn16_8_fashion_mnist.py)
#      for as many epochs as fit in 4 minutes: the cosine schedule is set for --epochs (default
#      30) and the run is stopped by SIGTERM when its 240 s are up (the trainer finishes the step,
#      saves a checkpoint and exits 0), whichever comes first;
#   4. analyses the last checkpoint (`nc-mixup analyze`: projection.png = the geometry figure,
#      metrics.json).
# Results: printed, and copied to $OUT (the device tool's folder; else --out, default
# results/device_check): device.txt, mfu.json, train_metrics.jsonl, metrics.json, projection.png,
# device_check.log.
#
# Usage:
#   benchmarks/device_check.sh --prepare     # here, once: data + missing packages -> .device_data/
#   benchmarks/device_check.sh [--out DIR] [--epochs N] [--train-seconds S]   # on the GPU machine
#   benchmarks/device_check.sh --cpu-smoke [--out DIR]   # the same steps at tiny shapes on CPU
#
# FashionMNIST travels with the working tree: the GPU machine has no dataset package and no
# network. `--prepare` copies the raw files (/usr/share/datasets/fashion-mnist, 30 MB) into the
# ignored folder .device_data/fashion-mnist, and the two pure-Python packages the machine's image
# lacks (ml_collections, tensorboardX) from this checkout's .venv into .device_data/site. Then, with
# the device tool, from the repository root:
#   run(command="benchmarks/device_check.sh", carry=[".device_data"], timeout_s=540)
# The script reads the data through the config keys dataset.source=raw and dataset.raw_dir, and
# puts .device_data/site on PYTHONPATH only for modules the machine's python3 lacks.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
MODE=gpu
OUT_DIR="${OUT:-}"
EPOCHS=""
TRAIN_SECONDS=240
DEVICE_DATA="$REPO/.device_data"
SYSTEM_FASHION_MNIST=/usr/share/datasets/fashion-mnist

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu-smoke) MODE=cpu-smoke ;;
    --prepare) MODE=prepare ;;
    --out) OUT_DIR="$2"; shift ;;
    --epochs) EPOCHS="$2"; shift ;;
    --train-seconds) TRAIN_SECONDS="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "device_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for value in "$EPOCHS" "$TRAIN_SECONDS"; do
  if [[ -n "$value" && ! "$value" =~ ^[1-9][0-9]*$ ]]; then
    echo "device_check.sh: '$value' is not a positive integer" >&2; exit 2
  fi
done

# Python: this checkout's venv where there is one, else the machine's python3 (the GPU image).
PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then PY="$REPO/.venv/bin/python"; else PY=python3; fi
fi

if [[ "$MODE" == prepare ]]; then
  if [[ ! -f "$SYSTEM_FASHION_MNIST/train-images-idx3-ubyte.gz" ]]; then
    echo "device_check.sh --prepare: no FashionMNIST at $SYSTEM_FASHION_MNIST" \
         "(apt-get install dataset-fashion-mnist)" >&2
    exit 2
  fi
  mkdir -p "$DEVICE_DATA/fashion-mnist" "$DEVICE_DATA/site"
  cp "$SYSTEM_FASHION_MNIST"/*.gz "$DEVICE_DATA/fashion-mnist/"
  for module in ml_collections tensorboardX; do
    src="$("$PY" -c "import $module, os; print(os.path.dirname($module.__file__))")"
    rm -rf "${DEVICE_DATA:?}/site/$module"
    cp -r "$src" "$DEVICE_DATA/site/$module"
    find "$DEVICE_DATA/site/$module" -name __pycache__ -prune -exec rm -rf {} +
  done
  du -sh "$DEVICE_DATA"
  echo "prepared $DEVICE_DATA: pass carry=[\".device_data\"] to the device tool"
  exit 0
fi

# Data: the system's FashionMNIST where installed, else the carried copy.
if [[ -f "$SYSTEM_FASHION_MNIST/train-images-idx3-ubyte.gz" ]]; then
  DATA="$SYSTEM_FASHION_MNIST"
elif [[ -f "$DEVICE_DATA/fashion-mnist/train-images-idx3-ubyte.gz" ]]; then
  DATA="$DEVICE_DATA/fashion-mnist"
else
  echo "device_check.sh: FashionMNIST not found in $SYSTEM_FASHION_MNIST or" \
       "$DEVICE_DATA/fashion-mnist; run 'benchmarks/device_check.sh --prepare' and carry" \
       ".device_data" >&2
  exit 2
fi

if [[ -z "$OUT_DIR" ]]; then
  OUT_DIR="$REPO/results/device_check"
  [[ "$MODE" == cpu-smoke ]] && OUT_DIR="$REPO/results/device_check_smoke"
fi
mkdir -p "$OUT_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")"
LOG="$OUT_DIR/device_check.log"
: > "$LOG"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$WORK/jax_cache}"
if ! "$PY" -c "import ml_collections, tensorboardX" 2>/dev/null; then
  export PYTHONPATH="$PYTHONPATH:$DEVICE_DATA/site"
fi
if [[ "$MODE" == cpu-smoke ]]; then
  export JAX_PLATFORMS=cpu
fi
if ! missing="$("$PY" -c "
import importlib.util as u
names = ('jax', 'flax', 'optax', 'orbax.checkpoint', 'etils', 'ml_collections', 'tensorboardX',
         'scipy', 'matplotlib', 'tqdm')
print(' '.join(n for n in names if u.find_spec(n.split('.')[0]) is None))" 2>&1)" || [[ -n "$missing" ]]; then
  echo "device_check.sh: $PY lacks: $missing (run --prepare here and carry .device_data)" >&2
  exit 2
fi
START=$SECONDS
say() { echo "[device_check +$((SECONDS - START))s] $*" | tee -a "$LOG"; }
run() { "$@" 2>&1 | tee -a "$LOG"; return "${PIPESTATUS[0]}"; }

say "mode $MODE, python $PY, data $DATA, out $OUT_DIR, work $WORK"
{
  command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "nvidia-smi: not available"
  "$PY" -c "import jax; d = jax.devices(); print(f'jax {jax.__version__}, backend' \
    f' {jax.default_backend()}, {len(d)} x {d[0].device_kind}')"
} 2>&1 | tee "$OUT_DIR/device.txt" | tee -a "$LOG"
BACKEND="$("$PY" -c "import jax; print(jax.default_backend())" 2>/dev/null)"
if [[ "$MODE" == gpu && "$BACKEND" == cpu ]]; then
  say "no accelerator: JAX's backend is cpu. Run with --cpu-smoke on a machine without one."
  exit 2
fi

# 2. MFU at paper shapes (tiny networks in the smoke run).
if [[ "$MODE" == gpu ]]; then
  BENCH=(--shapes paper --batch-size 128 --dtype both --steps 10)
  BENCH_SECONDS=180
else
  BENCH=(--shapes small --batch-size 8 --dtype both --steps 1)
  BENCH_SECONDS=120
fi
say "bench_mfu.py ${BENCH[*]}"
if ! run timeout -k 10 "$BENCH_SECONDS" "$PY" benchmarks/bench_mfu.py "${BENCH[@]}" \
    --json "$OUT_DIR/mfu.json"; then
  say "bench_mfu.py FAILED or ran past ${BENCH_SECONDS}s (see the log); going on"
fi

# 3. WRN-16-8 on FashionMNIST with mixup, for at most TRAIN_SECONDS.
if [[ "$MODE" == gpu ]]; then
  CONFIG="experiments/configs/wrn16_8_fashion_mnist.py:epochs=${EPOCHS:-30}"
  ANALYZE=()
else
  CONFIG="experiments/configs/wrn16_8_fashion_mnist.py:smoke=1,epochs=${EPOCHS:-2}"
  TRAIN_SECONDS=$(( TRAIN_SECONDS < 90 ? TRAIN_SECONDS : 90 ))
  ANALYZE=(--pairs-per-class 4 --lambdas 0:1:3)
fi
say "train $CONFIG for at most ${TRAIN_SECONDS}s"
T0=$SECONDS
run timeout --preserve-status -s TERM -k 60 "$TRAIN_SECONDS" "$PY" -m nc_mixup train \
  --config "$CONFIG" --workdir "$WORK/train" \
  --config.dataset.source=raw --config.dataset.raw_dir="$DATA"
say "training took $((SECONDS - T0))s"
cp "$WORK/train/metrics.jsonl" "$OUT_DIR/train_metrics.jsonl"

# 4. Analysis of the last checkpoint: geometry figure and metrics.json.
say "analyze ${ANALYZE[*]}"
run "$PY" -m nc_mixup analyze --workdir "$WORK/train" --out "$WORK/analysis" --no-progress \
  "${ANALYZE[@]}"
cp "$WORK/analysis/metrics.json" "$WORK/analysis/projection.png" "$OUT_DIR/"

"$PY" - "$OUT_DIR" "$TRAIN_SECONDS" "$WORK/train/config.json" <<'EOF' 2>&1 | tee -a "$LOG"
import json, pathlib, sys

out, budget = pathlib.Path(sys.argv[1]), float(sys.argv[2])
config = json.loads(pathlib.Path(sys.argv[3]).read_text())
n_train = config["dataset"]["n_per_class"] * 10 or 60000  # FashionMNIST: 10 classes, 60000
records = [json.loads(line) for line in (out / "train_metrics.jsonl").read_text().splitlines()
           if line.strip()]
train = [r for r in records if "images_per_sec" in r]
evals = [r for r in records if "test_accuracy" in r]
m = json.loads((out / "metrics.json").read_text())
last = train[-1] if train else {}
ips = sorted(r["images_per_sec"] for r in train[1:] or train)
rate = ips[len(ips) // 2] if ips else float("nan")
print(f"trained to step {last.get('step')} (epoch {last.get('epoch')} of"
      f" {config['num_epochs']}), median {rate:.0f} images/s: an epoch of {n_train} images in"
      f" {n_train / rate:.1f} s, about {int(budget * rate / n_train)} epochs in {budget:.0f} s"
      " without compilation")
if evals:
    print(f"last test accuracy {evals[-1]['test_accuracy']:.4f} at epoch {evals[-1]['epoch']}")
keys = ("step", "mode", "classes", "same_class_alignment", "boundary_gap")
print("analysis:", json.dumps({k: m[k] for k in keys if k in m}))
EOF
say "done in $((SECONDS - START))s; results in $OUT_DIR"
rm -rf "$WORK"
