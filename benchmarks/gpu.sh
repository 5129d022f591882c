#!/usr/bin/env bash
# The GPU benchmarks in one short run (4-6 minutes expected on one GPU; each part has a time limit,
# 9 minutes in all): pretraining throughput with MFU against the card's datasheet bf16 peak
# (benchmarks/pretrain.py), llmkit's generation beside transformers' on the same weights
# (benchmarks/generate.py), and the tinyshakespeare quality run, with torch.compile
# (benchmarks/pretrain.py again). Made for a machine that has PyTorch and transformers but not
# llmkit installed (the repository is put on PYTHONPATH) and no ../shared/data:
#
#   here, once:  mkdir -p .gpu && cp ../shared/data/tinyshakespeare.txt .gpu/    (.gpu/ is git-ignored)
#   there:       bash benchmarks/gpu.sh          (with .gpu carried along; results go to $OUT)
#   to try it:   bash benchmarks/gpu.sh --try    (the same parts on the CPU, tiny, in about a minute)
#
# Writes env.txt, pretrain.json, generate.json and gpu.log to $OUT (benchmarks/results/gpu when OUT
# is unset). Every part has its own time limit and a failed part does not stop the next; the exit
# status is the number of parts that failed.
set -u -o pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results/gpu}
mkdir -p "$out"
: >"$out/gpu.log"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python=${PYTHON:-python3}  # the GPU image's python3 holds PyTorch
text=.gpu/tinyshakespeare.txt
[ -f "$text" ] || text=../shared/data/tinyshakespeare.txt

if [ "${1:-}" = "--try" ]; then
  device=cpu
  [ -x .venv/bin/python ] && python=${PYTHON:-.venv/bin/python}
  throughput=(--presets tiny --steps 4 --batch-size 2)
  generation=(--preset tiny --new-tokens 16 --batches 1,2 --repeats 1)
  budget=15
else
  device=cuda
  # batch 16 of 256 tokens: enough rows for small and base to keep an H100 busy, and medium still
  # fits 80 GB in fp32 with AdamW's state
  throughput=(--presets small,base,medium --steps 30 --batch-size 16)
  generation=(--preset small --batches 1,8,64 --repeats 3)
  budget=120
fi

failed=0
part() { # name, seconds, command...: run under a time limit, logged; a failure is counted
  local name=$1 limit=$2
  shift 2
  echo "== $name (at most ${limit} s): $*" | tee -a "$out/gpu.log"
  if ! timeout "$limit" "$@" 2>&1 | tee -a "$out/gpu.log"; then
    echo "== $name FAILED" | tee -a "$out/gpu.log"
    failed=$((failed + 1))
  fi
}

part environment 60 bash -c "set -o pipefail; date -u; nvidia-smi || true; $python -c '
import sys, torch, transformers
print(sys.version.split()[0], \"torch\", torch.__version__, \"CUDA\", torch.version.cuda,
      \"available\", torch.cuda.is_available(), \"transformers\", transformers.__version__)
if torch.cuda.is_available():
    print(torch.cuda.get_device_name(0), \"bf16\", torch.cuda.is_bf16_supported())
import llmkit.train.pretrain, llmkit.engine, llmkit.export  # what the benchmarks need of llmkit
' | tee $out/env.txt"
part throughput 120 "$python" benchmarks/pretrain.py --device "$device" --skip-quality "${throughput[@]}" \
  --text "$text" --out "$out/pretrain.json"
part generation 150 "$python" benchmarks/generate.py --device "$device" "${generation[@]}" \
  --out "$out/generate.json"
# the quality run adds its figures to pretrain.json; nanoGPT's recipe is a CPU reference, left out
part quality $((budget + 90)) "$python" benchmarks/pretrain.py --device "$device" --skip-throughput \
  --skip-reference --budget "$budget" --text "$text" --out "$out/pretrain.json"

echo "== $failed part(s) failed; results in $out" | tee -a "$out/gpu.log"
exit "$failed"
