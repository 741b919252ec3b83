#!/usr/bin/env bash
# Run nc-mixup on a Cloud TPU VM or pod slice: create it, ship this checkout to every worker,
# install with the `tpu` extra, point at (or upload) a prepared TFDS data_dir on GCS, launch the
# same `nc-mixup train` / `nc-mixup reproduce` command on all workers, fetch the results.
#
#   scripts/tpu_launch.sh --accelerator-type v4-32 --zone us-central2-b --spot \
#       --config experiments/configs/smoke.py --workdir gs://BUCKET/runs/smoke \
#       --data-dir gs://BUCKET/tfds --dry-run
#
# --dry-run prints every command (one per line, prefixed with "+ ") without running anything and
# needs neither gcloud nor credentials. See docs/cloud_tpu.md for the step-by-step and costs.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/tpu_launch.sh [options] [-- extra arguments for nc-mixup]

TPU:
  --name NAME               TPU VM / pod slice name (default: nc-mixup)
  --zone ZONE               zone (default: us-central2-b, where v4 lives)
  --project PROJECT         GCP project (default: gcloud's configured project)
  --accelerator-type TYPE   e.g. v4-8 (1 host), v4-32 (4 hosts), v5litepod-16 (default: v4-8)
  --version VERSION         TPU software version (default: tpu-ubuntu2204-base for v2-v4,
                            v2-alpha-tpuv5-lite, v2-alpha-tpuv5, v2-alpha-tpuv6e for v5e, v5p, v6e)
  --spot                    Spot capacity (cheaper, can be preempted at any time)
  --preemptible             legacy preemptible capacity (cheaper, preempted within 24 h)
  --max-restarts N          after a preemption, recreate the TPU and relaunch; the run resumes
                            from the latest checkpoint in the GCS workdir (default: 0)
Run:
  --command train|reproduce what to run on every worker (default: train)
  --config PATH[:ARG]       config for `train` (default: experiments/configs/smoke.py)
  --workdir DIR             run dir for `train`; gs://... for pod slices (required for train)
  --profile NAME            profile for `reproduce` (default: paper)
  --out DIR                 output folder for `reproduce` (required for reproduce)
  --data-dir GCS_DIR        prepared TFDS data_dir (gs://...) read by every worker
  --prepare NAME[,NAME]     first run `nc-mixup data prepare NAME --raw-dir RAW` here and copy
                            the result to --data-dir
  --raw-dir RAW             raw dataset files for --prepare
  --results DIR             where to fetch results on this machine (default: results/tpu/NAME)
  --steps LIST              subset of create,copy,install,data,run,fetch,delete
                            (default: create,copy,install,data,run,fetch)
  --delete                  delete the TPU at the end (same as adding 'delete' to --steps)
  --dry-run                 print every command without running it
  -h, --help                this help
EOF
}

die() {
  echo "tpu_launch.sh: error: $*" >&2
  exit 2
}

# --- options -------------------------------------------------------------------------------------
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NC_MIXUP=${NC_MIXUP:-nc-mixup}  # the local CLI, for --prepare (e.g. NC_MIXUP=.venv/bin/nc-mixup)
NAME=nc-mixup
ZONE=us-central2-b
PROJECT=""
ACCELERATOR_TYPE=v4-8
VERSION=""  # default: by accelerator family (see below)
CAPACITY=""
MAX_RESTARTS=0
COMMAND=train
CONFIG=experiments/configs/smoke.py
WORKDIR=""
PROFILE=paper
OUT=""
DATA_DIR=""
PREPARE=""
RAW_DIR=""
RESULTS=""
STEPS=create,copy,install,data,run,fetch
DRY_RUN=0
EXTRA=()

need_value() {
  [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) need_value "$@"; NAME=$2; shift 2 ;;
    --zone) need_value "$@"; ZONE=$2; shift 2 ;;
    --project) need_value "$@"; PROJECT=$2; shift 2 ;;
    --accelerator-type) need_value "$@"; ACCELERATOR_TYPE=$2; shift 2 ;;
    --version) need_value "$@"; VERSION=$2; shift 2 ;;
    --spot) CAPACITY=--spot; shift ;;
    --preemptible) CAPACITY=--preemptible; shift ;;
    --max-restarts) need_value "$@"; MAX_RESTARTS=$2; shift 2 ;;
    --command) need_value "$@"; COMMAND=$2; shift 2 ;;
    --config) need_value "$@"; CONFIG=$2; shift 2 ;;
    --workdir) need_value "$@"; WORKDIR=$2; shift 2 ;;
    --profile) need_value "$@"; PROFILE=$2; shift 2 ;;
    --out) need_value "$@"; OUT=$2; shift 2 ;;
    --data-dir) need_value "$@"; DATA_DIR=$2; shift 2 ;;
    --prepare) need_value "$@"; PREPARE=$2; shift 2 ;;
    --raw-dir) need_value "$@"; RAW_DIR=$2; shift 2 ;;
    --results) need_value "$@"; RESULTS=$2; shift 2 ;;
    --steps) need_value "$@"; STEPS=$2; shift 2 ;;
    --delete) STEPS="$STEPS,delete"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

[[ $NAME =~ ^[a-z]([-a-z0-9]*[a-z0-9])?$ ]] || die "--name must be lower case letters, digits, '-'"
[[ $MAX_RESTARTS =~ ^[0-9]+$ ]] || die "--max-restarts must be a non-negative integer"
IFS=, read -r -a STEP_LIST <<<"$STEPS"
for step in "${STEP_LIST[@]}"; do
  case "$step" in
    create | copy | install | data | run | fetch | delete) ;;
    *) die "unknown step '$step' in --steps" ;;
  esac
done
case "$COMMAND" in
  train) [[ -n $WORKDIR ]] || die "--workdir is required for --command train" ;;
  reproduce) [[ -n $OUT ]] || die "--out is required for --command reproduce" ;;
  *) die "--command must be train or reproduce, got '$COMMAND'" ;;
esac
if [[ -n $PREPARE ]]; then
  [[ -n $RAW_DIR ]] || die "--prepare needs --raw-dir"
  [[ $DATA_DIR == gs://* ]] || die "--prepare needs --data-dir gs://..."
fi
RESULTS=${RESULTS:-results/tpu/$NAME}
# TPU software versions for JAX on TPU VMs, by generation (Cloud TPU docs, "TPU software versions").
if [[ -z $VERSION ]]; then
  case "${ACCELERATOR_TYPE%-*}" in
    v5litepod | v5e) VERSION=v2-alpha-tpuv5-lite ;;
    v5p) VERSION=v2-alpha-tpuv5 ;;
    v6e) VERSION=v2-alpha-tpuv6e ;;
    *) VERSION=tpu-ubuntu2204-base ;;
  esac
fi

# Hosts (workers) of a slice, from its accelerator type: v2/v3/v4/v5p-N count TensorCores (N/8
# hosts of 4 chips); v5litepod/v5e/v6e-N count chips (one host up to 8 chips, else 4 per host).
workers_for() {
  local type=$1 family count
  family=${type%-*}
  count=${type##*-}
  [[ $count =~ ^[0-9]+$ ]] || { echo "?"; return; }
  case "$family" in
    v2 | v3 | v4 | v5p) echo $(((count + 7) / 8)) ;;
    v5litepod | v5e | v6e) if ((count <= 8)); then echo 1; else echo $((count / 4)); fi ;;
    *) echo "?" ;;
  esac
}
WORKERS=$(workers_for "$ACCELERATOR_TYPE")

# --- running or printing commands ----------------------------------------------------------------
# Quote one word for a POSIX shell, readably: bare when safe, else in single quotes (only the
# value of a --flag=value word).
shell_quote() {
  local s=$1
  if [[ $s =~ ^(--[A-Za-z0-9.-]+=)(.*)$ ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
    s=${BASH_REMATCH[2]}
  fi
  if [[ -n $s && $s =~ ^[A-Za-z0-9_./:=,@%+~^-]+$ ]]; then
    printf '%s' "$s"
  else
    printf "'%s'" "${s//\'/\'\\\'\'}"
  fi
}

quote_all() {
  local out="" word
  for word in "$@"; do
    out+="${out:+ }$(shell_quote "$word")"
  done
  printf '%s' "$out"
}

run() {
  echo "+ $(quote_all "$@")"
  if ((DRY_RUN == 0)); then
    "$@"
  fi
}

GCLOUD_TPU=(gcloud compute tpus tpu-vm)
SCOPE=("--zone=$ZONE")
[[ -n $PROJECT ]] && SCOPE+=("--project=$PROJECT")

has_step() {
  [[ ",$STEPS," == *",$1,"* ]]
}

# --- the steps -----------------------------------------------------------------------------------
# shellcheck disable=SC2088  # expanded by the worker's shell, not here
REMOTE_DIR='~/nc-mixup'
TARBALL=/tmp/nc-mixup-$NAME.tar.gz

step_create() {
  local create=("${GCLOUD_TPU[@]}" create "$NAME" "${SCOPE[@]}"
    "--accelerator-type=$ACCELERATOR_TYPE" "--version=$VERSION")
  [[ -n $CAPACITY ]] && create+=("$CAPACITY")
  run "${create[@]}"
}

step_copy() {
  # The committed tree of this checkout (uncommitted edits are not shipped: commit them first).
  run git -C "$REPO" archive --format=tar.gz -o "$TARBALL" HEAD
  run "${GCLOUD_TPU[@]}" scp "$TARBALL" "$NAME:nc-mixup.tar.gz" "${SCOPE[@]}" --worker=all
  run "${GCLOUD_TPU[@]}" ssh "$NAME" "${SCOPE[@]}" --worker=all \
    "--command=rm -rf $REMOTE_DIR && mkdir -p $REMOTE_DIR && tar -xzf nc-mixup.tar.gz -C $REMOTE_DIR"
}

step_install() {
  # nc-mixup needs Python >= 3.11; the TPU images ship Ubuntu 22.04 with 3.10, so add 3.11.
  local python="command -v python3.11 >/dev/null || (sudo apt-get update -qq && sudo apt-get install -y -qq python3.11 python3.11-venv)"
  local venv="python3.11 -m venv .venv && .venv/bin/pip install -q -U pip && .venv/bin/pip install -q -e \".[tpu]\""
  run "${GCLOUD_TPU[@]}" ssh "$NAME" "${SCOPE[@]}" --worker=all \
    "--command=cd $REMOTE_DIR && { $python; } && $venv"
}

step_data() {
  [[ -n $PREPARE ]] || return 0
  local prepared=/tmp/nc-mixup-tfds-$NAME name names
  IFS=, read -r -a names <<<"$PREPARE"
  for name in "${names[@]}"; do
    run "$NC_MIXUP" data prepare "$name" --raw-dir "$RAW_DIR" --data-dir "$prepared"
  done
  run gcloud storage rsync --recursive "$prepared" "$DATA_DIR"
}

nc_mixup_command() {
  local cmd
  if [[ $COMMAND == train ]]; then
    cmd=(.venv/bin/nc-mixup train --config "$CONFIG" --workdir "$WORKDIR")
    [[ -n $DATA_DIR ]] && cmd+=("--config.dataset.data_dir=$DATA_DIR")
  else
    cmd=(.venv/bin/nc-mixup reproduce --profile "$PROFILE" --out "$OUT")
  fi
  cmd+=("${EXTRA[@]}")
  # TFDS_DATA_DIR: where tensorflow-datasets looks by default (reproduce's runs included).
  local env="TF_CPP_MIN_LOG_LEVEL=2"
  [[ -n $DATA_DIR ]] && env+=" TFDS_DATA_DIR=$(shell_quote "$DATA_DIR")"
  printf 'cd %s && %s %s' "$REMOTE_DIR" "$env" "$(quote_all "${cmd[@]}")"
}

step_run() {
  # The same command on every worker: each process finds the others through the TPU metadata
  # (nc_mixup.distributed.initialize) and trains on its slice of every global batch.
  run "${GCLOUD_TPU[@]}" ssh "$NAME" "${SCOPE[@]}" --worker=all "--command=$(nc_mixup_command)"
}

step_fetch() {
  local src=$WORKDIR
  [[ $COMMAND == reproduce ]] && src=$OUT
  run mkdir -p "$RESULTS"
  if [[ $src == gs://* ]]; then
    run gcloud storage cp --recursive "$src" "$RESULTS/"
  else
    # A local run dir lives on worker 0 (only process 0 writes logs, figures and reports).
    run "${GCLOUD_TPU[@]}" scp --recurse "$NAME:nc-mixup/$src" "$RESULTS/" "${SCOPE[@]}" --worker=0
  fi
}

step_delete() {
  run "${GCLOUD_TPU[@]}" delete "$NAME" "${SCOPE[@]}" --quiet
}

tpu_state() {
  "${GCLOUD_TPU[@]}" describe "$NAME" "${SCOPE[@]}" --format='value(state)' 2>/dev/null || echo GONE
}

# Run, and on preemption (state PREEMPTED/TERMINATED, or the TPU gone) recreate and relaunch:
# the command is the same, so training resumes from the latest orbax checkpoint in the workdir.
run_with_restarts() {
  local attempt=0 state
  while true; do
    if step_run; then
      return 0
    fi
    state=$(tpu_state)
    if ((attempt >= MAX_RESTARTS)) || [[ ! $state =~ ^(PREEMPTED|TERMINATED|GONE)$ ]]; then
      echo "tpu_launch.sh: run failed (TPU state: $state)" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    echo "tpu_launch.sh: TPU $NAME is $state: recreating (restart $attempt of $MAX_RESTARTS)" >&2
    [[ $state != GONE ]] && step_delete
    step_create
    step_copy
    step_install
  done
}

echo "# $NAME: $ACCELERATOR_TYPE in $ZONE, $WORKERS worker(s)${CAPACITY:+, ${CAPACITY#--}}"
if ((DRY_RUN == 0)); then
  command -v gcloud >/dev/null || die "gcloud not found: install the Google Cloud CLI (or use --dry-run)"
  if [[ $WORKERS != 1 && $COMMAND == train && $WORKDIR != gs://* ]]; then
    die "a pod slice ($WORKERS workers) needs a shared workdir: use --workdir gs://..."
  fi
fi
has_step create && step_create
has_step copy && step_copy
has_step install && step_install
has_step data && step_data
if has_step run; then
  if ((DRY_RUN == 1 && MAX_RESTARTS > 0)); then
    echo "# on preemption, up to $MAX_RESTARTS time(s): delete, create, copy, install, run again"
  fi
  run_with_restarts
fi
has_step fetch && step_fetch
has_step delete && step_delete
exit 0
