#!/usr/bin/env bash
# Creates .venv/ in the project root with the pinned OpenMMLab stack and this
# package in editable mode. Safe to re-run: a second run checks a stamp and exits.
# docs/install.md explains what each step does and why.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
REQ="$ROOT/requirements"
CONSTRAINTS="$REQ/constraints.txt"

pin() {  # version of a package as pinned in constraints.txt
    sed -n "s/^$1==\([^,]*\).*/\1/p" "$CONSTRAINTS"
}
TORCH_VERSION="$(pin torch)"
MMCV_VERSION="$(pin mmcv)"

stamp_inputs() {
    cat "$0" "$REQ"/*.txt "$ROOT/setup.cfg" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1
}
STAMP="$VENV/.hih-install-stamp"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_inputs)" ]] &&
   NO_ALBUMENTATIONS_UPDATE=1 "$VENV/bin/python" -c "import mmcv._ext, mmpose, hih_plugin" 2>/dev/null; then
    echo "[install] .venv is up to date ($(stamp_inputs | cut -c1-12)); nothing to do."
    exit 0
fi

[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" "$@"; }

echo "[install] torch $TORCH_VERSION and build tools"
pip_install torch torchvision
# torch declares setuptools>=77 for its cpp_extension, but mmcv 2.1.0's build,
# mmengine and mim import pkg_resources, so setuptools stays below 70 (see
# requirements/build.txt). pip would print that known conflict as an ERROR.
echo "[install] setuptools<70 on purpose (torch declares >=77, needed only to build extensions)"
pip_install --no-warn-conflicts -r "$REQ/build.txt"

# pip's own wheel cache is keyed on the sdist only, so a wheel built against
# another torch would be reused silently: keep ours in a folder named after torch.
PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEELS="${HIH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hih-plugin}/mmcv-$MMCV_VERSION-torch-$TORCH_VERSION-$PYTAG"
MMCV_WHEEL="$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "$MMCV_WHEEL" ]]; then
    echo "[install] building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION (about 8 min on 2 cores)"
    mkdir -p "$WHEELS"
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$PY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation \
        --no-cache-dir -w "$WHEELS" "mmcv==$MMCV_VERSION"
    MMCV_WHEEL="$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
else
    echo "[install] reusing cached $MMCV_WHEEL"
fi

echo "[install] OpenMMLab stack"
pip_install -r "$REQ/runtime.txt" mmengine
# Their declared dependencies that are left out on purpose: mmpose's chumpy
# (does not build, unused) and openmim's opendatalab (only for `mim download`
# of data sets; it pins an old setuptools, requests and rich).
pip_install --no-deps --no-warn-conflicts "$MMCV_WHEEL" mmdet mmpose openmim
# The registry wheel of xtcocotools is built against numpy 1.
pip_install --no-deps --no-build-isolation --no-binary xtcocotools xtcocotools

echo "[install] test and lint tools, onnx and onnxruntime (deploy), hih_plugin (editable)"
pip_install -r "$REQ/tests.txt" -r "$REQ/deploy.txt"
pip_install --no-deps --no-build-isolation -e "$ROOT"

NO_ALBUMENTATIONS_UPDATE=1 "$PY" -c "import mmcv._ext, mmdet, mmpose, hih_plugin; print('[install] ok: mmcv', mmcv.__version__, 'mmpose', mmpose.__version__, 'hih_plugin', hih_plugin.__version__)"
stamp_inputs > "$STAMP"
