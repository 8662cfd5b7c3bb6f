#!/usr/bin/env bash
# Multi-process training with torchrun; MMPose's tools/dist_train.sh interface:
#   tools/dist_train.sh CONFIG GPUS [tools/train.py arguments]
# Environment: NNODES, NODE_RANK, PORT, MASTER_ADDR as in MMPose; PYTHON picks
# the interpreter (default: python). Without CUDA it starts GPUS CPU processes
# that talk over gloo (see hih_plugin/cli/dist.py). A failed run ends with
# the workers' error line and exit status, without torchrun's own traceback
# (tools/dist_run.py).

if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py arguments]" >&2
    exit 2
fi

CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" "$(dirname "$0")/dist_run.py" \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
