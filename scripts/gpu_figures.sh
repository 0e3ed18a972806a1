#!/usr/bin/env bash
# GPU figures for reports/ (issue #5, item 4), as one prepared command of a few minutes.
#
# On any CUDA machine, from the repository root, with ganbench's dependencies installed:
#     bash scripts/gpu_figures.sh OUT_DIR
# writes OUT_DIR/performance-gpu.md: section 6 of scripts/bench_performance.py (every model's training
# step on CUDA beside the CPU: on 8x8 digits in fp32 and bf16 autocast; on 1x28x28 and 3x32x32 images in
# fp32, bf16, and channels-last in both: images/s and utilisation per setting) and OUT_DIR/gpu.csv (the card).
# The CPU sections are left out (--gpu-only): their figures are the CPU machine's, in reports/performance.md.
# It also writes OUT_DIR/seeds-gpu.md: seed-steps/s of 10 seeds trained as one vectorised model against 10
# serial runs on CUDA (scripts/bench_seeds.py, issue #14; target at least 20x), and OUT_DIR/image-baselines-gpu.md:
# one training step of every real-image baseline (mnist, fashion-mnist, cifar10, stacked-mnist; issue #17) on
# CUDA at its own batch size, with its published budget's hours (scripts/time_image_baselines.py; no dataset
# files needed). OUT_DIR/pacgan2d-gpu.md: one training step of each `pacgan2d` baseline (PacGAN's 2D protocol,
# issue #12) on CUDA, with the hours of its 400,000 iterations (the same script with --suite pacgan2d).
#
# A machine without network access and without torch-fidelity / pytorch-fid (the lent device
# machines have torch, pandas, scipy, scikit-learn, matplotlib, tabulate, but not these two) takes
# their wheels from .whl/ (ignored by git), fetched beforehand where pip works:
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --implementation cp -d .whl torch-fidelity==0.4.0 pytorch-fid==0.3.0
# and with the device tool: run(command="bash scripts/gpu_figures.sh $OUT", carry=[".whl"]).
set -euo pipefail
out=${1:?usage: bash scripts/gpu_figures.sh OUT_DIR}
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/ganbench-site .whl/*.whl
    export PYTHONPATH=/tmp/ganbench-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # ganbench from this checkout, installed or not
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: these are GPU figures')"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.csv"
python3 scripts/bench_performance.py --gpu-only --out "$out/performance-gpu.md"
python3 scripts/bench_seeds.py --device cuda --seeds 10 --steps 200 --warmup 20 --out "$out/seeds-gpu.md"
python3 scripts/time_image_baselines.py --device cuda --steps 20 --warmup 5 --out "$out/image-baselines-gpu.md"
python3 scripts/time_image_baselines.py --device cuda --suite pacgan2d --steps 50 --warmup 10 --out "$out/pacgan2d-gpu.md"
