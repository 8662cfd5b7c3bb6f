#!/usr/bin/env bash
# The quick start of docs/quickstart.md, exactly: generate a synthetic
# WFLW-format face dataset, train HIH with the local decimal read-out on
# it through configs/hih-local_wflw_quickstart.py (hih-local_wflw.py at smoke
# scale: 128 input, 32x32 heatmaps, one narrow stack), test it (NME, FR@10,
# AUC@10) and draw its predictions with MMPose's visualizer, then show how
# far the decimal (CSC) loss fell. It shows the pipeline works end to end;
# its NME says nothing about accuracy on real faces.
#
# Run from the project root with the environment active:
#     bash tools/quickstart.sh
# or `make quickstart`, which installs .venv/ first if needed.
# The QS_* variables shrink it further for the tests.
set -euo pipefail

# One torch thread for the model, and one data-loading process beside it
# (the config's num_workers=1): the two cores stay busy without torch's
# idle OpenMP threads spin-waiting for the other core, which on a loaded
# 2-core machine made an epoch many times slower. Set
# OMP_NUM_THREADS yourself to override.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# No albumentations version check over the network when mmpose imports it.
export NO_ALBUMENTATIONS_UPDATE=${NO_ALBUMENTATIONS_UPDATE:-1}

PYTHON=${PYTHON:-python}
CONFIG=configs/hih-local_wflw_quickstart.py
DATA=${QS_DATA:-data/demo_wflw}
WORK=${QS_WORK:-work_dirs/quickstart}
NUM_TRAIN=${QS_NUM_TRAIN:-200}
NUM_TEST=${QS_NUM_TEST:-20}
EPOCHS=${QS_EPOCHS:-20}

# The visualization hook joins its folder to work_dir/timestamp, so it needs
# an absolute path to land where we say.
mkdir -p "$WORK"
VIS=$(cd "$WORK" && pwd)/vis

# The tests shrink the run through QS_*; by default the commands below are
# exactly those of docs/quickstart.md.
TRAIN_OPTS=() TEST_OPTS=()
if [ -n "${QS_DATA:-}" ]; then
    TRAIN_OPTS+=(train_dataloader.dataset.data_root="$DATA")
    TEST_OPTS+=(--cfg-options test_dataloader.dataset.data_root="$DATA")
fi
if [ -n "${QS_EPOCHS:-}" ]; then
    TRAIN_OPTS+=(train_cfg.max_epochs="$EPOCHS")
fi
if [ ${#TRAIN_OPTS[@]} -gt 0 ]; then
    TRAIN_OPTS=(--cfg-options "${TRAIN_OPTS[@]}")
fi

set -x
# 1. A synthetic 98-landmark face dataset in WFLW's format.
$PYTHON tools/make_demo_data.py --out-dir "$DATA" \
    --num-train "$NUM_TRAIN" --num-test "$NUM_TEST"

# 2. Train. Step 3 evaluates, so training skips validation.
$PYTHON tools/train.py "$CONFIG" --work-dir "$WORK" --no-validate \
    "${TRAIN_OPTS[@]}"

# 3. Test the last checkpoint: NME, FR@10 and AUC@10 into metrics.json, and
#    every test face drawn with its predicted landmarks into $WORK/vis/.
$PYTHON tools/test.py "$CONFIG" "$WORK/epoch_$EPOCHS.pth" \
    --work-dir "$WORK" --out "$WORK/metrics.json" --show-dir "$VIS" \
    "${TEST_OPTS[@]}"

# 4. Did the sub-pixel (decimal) branch learn? Its loss over the first and
#    the last 5 logged iterations of the training log.
$PYTHON tools/analysis/loss_trend.py "$WORK" --keys loss_kpt loss_decimal
