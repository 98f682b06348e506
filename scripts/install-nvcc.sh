#!/usr/bin/env bash
# Installs nvcc (no GPU needed) into .cuda-tools/, where build.rs looks for it: the pinned PyPI
# set, in one pip command. Pinned because an unpinned set emits PTX too new for the 580-series
# drivers (CUDA 13.0). Does nothing when .cuda-tools/ already has this nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc=.cuda-tools/nvidia/cu13/bin/nvcc
if [ -x "$nvcc" ] && "$nvcc" --version | grep -q 'V13.0.88'; then
  echo "nvcc already installed: $nvcc"
  exit 0
fi
python3 -m pip install --quiet --disable-pip-version-check --target .cuda-tools \
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-runtime==13.0.88 \
  nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85
"$nvcc" --version | tail -1
