#!/usr/bin/env bash
# The README's quick start, exactly: generate a synthetic WFLW-format face
# dataset, train HIH with the local decimal read-out on it through
# configs/hih-local_wflw.py, test it (NME) and draw its predictions with
# MMPose's visualizer, then show how far the decimal (CSC) loss fell. A smoke-scale run: one hourglass
# stack, a few epochs, on 200 drawn faces. It shows the pipeline works end to
# end; its NME says nothing about accuracy on real faces.
#
# Run from the project root with the environment active:
#     bash tools/quickstart.sh
# or `make quickstart`, which installs .venv/ first if needed.
# The QS_* variables shrink it further for the tests.
set -euo pipefail

# One torch thread unless the caller chose: with more, torch's idle OpenMP
# threads spin-wait: on a loaded 2-core machine one epoch took 3 min 20 s
# instead of 23 s (issue 13). The small model gains little from more threads.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# No albumentations version check over the network when mmpose imports it.
export NO_ALBUMENTATIONS_UPDATE=${NO_ALBUMENTATIONS_UPDATE:-1}

PYTHON=${PYTHON:-python}
DATA=${QS_DATA:-data/demo_wflw}
WORK=${QS_WORK:-work_dirs/quickstart}
NUM_TRAIN=${QS_NUM_TRAIN:-200}
NUM_TEST=${QS_NUM_TEST:-20}
EPOCHS=${QS_EPOCHS:-25}
BATCH=${QS_BATCH:-8}

# The visualization hook joins its folder to work_dir/timestamp, so it needs
# an absolute path to land where we say.
mkdir -p "$WORK"
VIS=$(cd "$WORK" && pwd)/vis

# The generated data instead of data/wflw/, and single-process data loading
# (2 cores are better spent on the model).
data_opts() {
    echo "$1_dataloader.dataset.data_root=$DATA" \
         "$1_dataloader.num_workers=0" "$1_dataloader.persistent_workers=False"
}

# The smoke-scale model, the same for training and testing.
MODEL_OPTS=(model.backbone.num_stacks=1 model.backbone.feat_channels=64
            model.head.in_channels=64 model.head.decimal_channels=64)

set -x
# 1. A synthetic 98-landmark face dataset in WFLW's format.
$PYTHON tools/make_demo_data.py --out-dir "$DATA" \
    --num-train "$NUM_TRAIN" --num-test "$NUM_TEST"

# 2. Train a narrow HIH-T with the local read-out (one stack, width 64
#    instead of 256, decimal branch 64 instead of 384) for a few epochs; the
#    warm-up is cut to 20 iterations to fit the short run. Step 3 evaluates, so training skips validation.
$PYTHON tools/train.py configs/hih-local_wflw.py --work-dir "$WORK" --no-validate \
    --cfg-options $(data_opts train) "${MODEL_OPTS[@]}" \
    train_dataloader.batch_size="$BATCH" \
    train_cfg.max_epochs="$EPOCHS" \
    param_scheduler.0.end=20 default_hooks.logger.interval=5

# 3. Test the last checkpoint: NME into metrics.json, and every test face
#    drawn with its predicted landmarks into $WORK/vis/.
$PYTHON tools/test.py configs/hih-local_wflw.py "$WORK/epoch_$EPOCHS.pth" \
    --work-dir "$WORK" --out "$WORK/metrics.json" --show-dir "$VIS" \
    --cfg-options $(data_opts test) "${MODEL_OPTS[@]}"

# 4. Did the sub-pixel (decimal) branch learn? Its loss over the first and
#    the last 5 logged iterations of the training log.
$PYTHON tools/analysis/loss_trend.py "$WORK" --keys loss_kpt loss_decimal
