#!/usr/bin/env bash
# The GPU suite (benchmarks/gpu_checks.py) on the lent device machine, whose image has PyTorch but not this
# package's other dependencies, and which can fetch nothing. Two steps:
#
#   here:    bash benchmarks/gpu_suite.sh prepare
#            wheels for Python 3.12 into .whl/ (PyAV, transformers, datasets, ...; about 49 MB) and the official
#            fixtures into .device/fixtures (8.5 MB): both git-ignored, about 59 MB with the tree, under the 64 MiB
#            that may travel
#   device:  run(command="bash benchmarks/gpu_suite.sh run", carry=[".whl", ".device"], timeout_s=590)
#            installs the carried wheels offline, then runs the suite within --budget_s 420 and writes
#            $OUT/gpu_suite.json (rewritten after every section) and $OUT/gpu_suite.log
set -euo pipefail
cd "$(dirname "$0")/.."

WHEELS=(av==18.1.0 transformers==5.24.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 fsspec==2026.9.0
        evaluate==0.4.6)

case "${1:-}" in
    prepare)
        mkdir -p .whl .device
        python3 -m pip download --quiet --dest .whl --no-deps --only-binary=:all: --python-version 3.12 \
            --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 "${WHEELS[@]}"
        rm -rf .device/fixtures && cp -r ../shared/fixtures .device/fixtures
        du -sh .whl .device
        ;;
    run)
        out="${OUT:-benchmarks/results}"
        mkdir -p "$out"
        # with the image's own packages where they satisfy the requirements; without dependency checks otherwise
        python3 -m pip install --quiet --no-index --find-links .whl "${WHEELS[@]}" \
            || python3 -m pip install --quiet --no-index --no-deps .whl/*.whl
        python3 -c "import av, datasets, torch, transformers; print('torch', torch.__version__, 'transformers',
transformers.__version__, 'datasets', datasets.__version__, 'av', av.__version__)"
        PYTHONPATH="$PWD" python3 benchmarks/gpu_checks.py --fixtures .device/fixtures --budget_s 420 \
            --output "$out/gpu_suite.json" 2>&1 | tee "$out/gpu_suite.log"
        ;;
    *)
        echo "usage: bash benchmarks/gpu_suite.sh prepare|run" >&2
        exit 2
        ;;
esac
