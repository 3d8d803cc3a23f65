#!/usr/bin/env bash
# The CUDA path end to end, in one short run (about 5 minutes on one recent GPU, 8 at most):
#   1. the digits example trained on CUDA through `torchcanvas train`, with bf16 + torch.compile +
#      channels-last + pinned memory + cuDNN benchmark, then fp16 (gradient scaler) and
#      torch.compile's reduce-overhead mode (CUDA graphs);
#   2. a ResNet-18 on random 224x224 images: samples/s of float32, bf16 autocast (AMP) and
#      torch.compile, side by side, with step-time ratios against eager float32;
#   3. the exported train.py under `torchrun --nproc_per_node 1` (a real nccl process group).
# Without CUDA it says so, skips what needs a GPU and runs the same steps small on the CPU
# (bf16, gloo) so the script itself can be checked anywhere.
#
# Usage (after `make setup`):  bench/gpu_check.sh        PYTHON=/path/to/python bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
[[ "$PY" == */* ]] && PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # steps cd away
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
START=$SECONDS
DIGITS=assets/examples/digits_cnn.json

if "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    DEVICE=cuda
    "$PY" -c "import torch; p = torch.cuda.get_device_properties(0); \
print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB; torch {torch.__version__}, \
CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}')"
else
    DEVICE=cpu
    echo "NO CUDA DEVICE: skipping the CUDA-only parts (fp16, pinned memory, cuDNN benchmark,"
    echo "CUDA graphs, nccl); running the same steps small on the CPU to check this script."
fi

metric() {  # metric RUN_DIR KEY: the final value of KEY in RUN_DIR/metrics.json
    "$PY" -c "import json, sys; m = json.load(open(sys.argv[1] + '/metrics.json')); \
print(f\"{m['status']}, {m['epochs']} epochs, {sys.argv[2]} {m['final'][sys.argv[2]]:.4f}\")" \
        "$1" "$2"
}

timed() {  # timed LABEL COMMAND...: run it quietly, then print wall and CPU seconds
    local label=$1
    shift
    local t0=$SECONDS pid=$BASHPID cpu0 cpu1 hz
    hz=$(getconf CLK_TCK)
    cpu0=$(awk '{print $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    if ! "$@" >"$TMP/out.log" 2>"$TMP/err.log"; then
        echo "FAILED: $label"
        tail -n 30 "$TMP/err.log"
        exit 1
    fi
    cpu1=$(awk '{print $16 + $17}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    echo "$label: $((SECONDS - t0)) s wall, $(((cpu1 - cpu0) / hz)) s CPU"
}

echo
echo "== 1. digits example through the CLI on $DEVICE"
CLI=("$PY" -m torchcanvas.runtime.cli train "$DIGITS" --device "$DEVICE")
if [ "$DEVICE" = cuda ]; then
    timed "bf16 + compile + channels-last + pinned memory + cuDNN benchmark, 15 epochs" \
        "${CLI[@]}" --precision bf16 --compile --channels-last --pin-memory \
        --cudnn-benchmark --out "$TMP/digits_bf16"
    echo "   $(metric "$TMP/digits_bf16" accuracy)"
    timed "fp16 with the gradient scaler, 15 epochs" \
        "${CLI[@]}" --precision fp16 --pin-memory --out "$TMP/digits_fp16"
    echo "   $(metric "$TMP/digits_fp16" accuracy)"
    timed "compile mode reduce-overhead (CUDA graphs), 5 epochs" \
        "${CLI[@]}" --epochs 5 --compile --compile-mode reduce-overhead --out "$TMP/digits_cg"
    echo "   $(metric "$TMP/digits_cg" accuracy)"
else
    timed "bf16 + compile + channels-last, 2 epochs" \
        "${CLI[@]}" --epochs 2 --precision bf16 --compile --channels-last --out "$TMP/digits_bf16"
    echo "   $(metric "$TMP/digits_bf16" accuracy)"
    if "${CLI[@]}" --epochs 1 --precision fp16 --out "$TMP/refused" 2>"$TMP/err.log"; then
        echo "FAILED: fp16 on the CPU was not refused"
        exit 1
    fi
    echo "   fp16 on the CPU refused: $(grep -o 'precision: .*' "$TMP/err.log")"
fi

echo
echo "== 2. ResNet-18, random images, SGD steps on $DEVICE"
if [ "$DEVICE" = cuda ]; then RESNET=(224 128 30 1); else RESNET=(64 8 3 0); fi
"$PY" - "$DEVICE" "${RESNET[@]}" <<'EOF'
import sys
import time

import torch
import torchvision

device = torch.device(sys.argv[1])
size, batch, steps, with_compile = (int(a) for a in sys.argv[2:6])
print(f"{batch} images of 3x{size}x{size} a step, {steps} timed steps after warm-up")


def sync():
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(precision: str, compiled: bool, channels_last: bool) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1000).to(device)  # random weights
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    if compiled:
        model.compile()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), device=device)
    dtype = {"fp32": None, "bf16": torch.bfloat16}[precision]

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(3):  # warm-up: cuDNN plans, and torch.compile compiles here
        step()
    sync()
    warm = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    losses = torch.stack([step() for _ in range(steps)])  # stays on the device until here
    sync()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    final = losses[-1].item()
    assert torch.isfinite(losses).all(), f"{precision}: the loss is not finite"
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return {"ms": 1000 * wall / steps, "cpu_ms": 1000 * cpu / steps, "rate": batch * steps / wall,
            "warm": warm, "loss": final, "peak": peak}


configs = [("fp32", False, False), ("bf16", False, False), ("bf16", False, True)]
if with_compile:
    configs += [("fp32", True, False), ("bf16", True, True)]
else:
    print("torch.compile rows: skipped without CUDA (compiling ResNet-18 on a small CPU takes "
          "minutes; the digits run above compiles on the CPU)")
base = None
print(f"{'setting':34} {'samples/s':>10} {'ms/step':>8} {'CPU ms':>7} {'ratio':>6} "
      f"{'warm-up wall/CPU s':>19} {'peak GiB':>8}")
for precision, compiled, channels_last in configs:
    r = measure(precision, compiled, channels_last)
    base = base or r["ms"]
    name = precision + (" autocast" if precision != "fp32" else "") + (
        " + compile" if compiled else " eager") + (" + channels-last" if channels_last else "")
    print(f"{name:34} {r['rate']:10.1f} {r['ms']:8.1f} {r['cpu_ms']:7.1f} "
          f"{base / r['ms']:6.2f} {r['warm'][0]:9.1f} /{r['warm'][1]:6.1f}   {r['peak']:8.2f}")
print("ratio: eager float32's step time over this row's (above 1: faster)")
EOF

echo
echo "== 3. the exported train.py under torchrun --nproc_per_node 1 on $DEVICE"
"$PY" -m torchcanvas.runtime.cli export "$DIGITS" --out "$TMP/export" --formats code >/dev/null
if [ "$DEVICE" = cuda ]; then
    FLAGS=(--device cuda --precision bf16 --compile --channels-last --pin-memory --epochs 3)
else
    FLAGS=(--device cpu --precision bf16 --epochs 1)
fi
(
    cd "$TMP/export"
    timed "torchrun train.py ${FLAGS[*]}" \
        "$PY" -m torch.distributed.run --standalone --nproc_per_node 1 train.py "${FLAGS[@]}" \
        --out ck
    grep '"epoch"' "$TMP/out.log" | tail -n 1 | sed 's/^/   last epoch: /'
    grep '"world_size"' "$TMP/out.log" | sed 's/^/   /'
    grep -q '"world_size": 1' "$TMP/out.log" || { echo "FAILED: no process group"; exit 1; }
    backend=$([ "$DEVICE" = cuda ] && echo nccl || echo gloo)
    echo "   process group: $backend, 1 rank; wrote $(ls ck | tr "\n" " ")"
)

echo
echo "gpu_check on $DEVICE: done in $((SECONDS - START)) s"
