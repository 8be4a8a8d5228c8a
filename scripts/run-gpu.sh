#!/usr/bin/env bash
# The GPU run, from the folder that scripts/gpu-bundle.sh builds (this script is copied into it). On the GPU
# machine (no Java there; NVIDIA driver, cuBLAS 13, PyTorch with timm) it does, in order:
#   1. environment: nvidia-smi, the bundle's Java, the PyTorch peer, `dma doctor`
#   2. the retargeted JCublas against this machine's libcublas.so.13: `ldd -r`, nothing may be missing
#   3. the engine's and models' tests through the JUnit console launcher (every op test body runs on cpu and
#      cuda; the dma.engine.cuda parity tests), with a count of passed, failed and skipped
#   4. the GPU benchmarks against PyTorch in the same run: GEMM fp32 and bf16 at 4096³ and 8192³, and the
#      DeiT-S/16 training step in float32 and bf16 autocast (images/s, MFU against the measured bf16 GEMM)
#   5. the whole pipeline (meta, incubations, assembly, fine-tune, E2E) on CUDA, on the bundle's Fashion-MNIST images
#   6. one summary table.
# Each part is time-boxed, and one that fails is reported and the run goes on; the whole run keeps to a budget
# (default 450 s). With $OUT set, run.log, summary.txt, tests.xml, bench.jsonl, doctor.json and the pipeline's run
# directory (pipeline/) are written there.
#
# Usage: [bash] run-gpu.sh [--cpu-check] [--tests engine,models] [--no-tests] [--no-bench] [--no-pipeline] [--batch N]
#                          [--budget SECONDS]
#   --cpu-check  on a machine without a GPU: the same parts, the GPU tests skipping (saying why), the GPU
#                benchmarks checked for a clear failure, a small CPU benchmark instead, and the pipeline on the CPU.
# Exit status: 0 when every part passed, 1 otherwise.
set -uo pipefail
b=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=gpu tests=engine,models run_tests=1 run_bench=1 run_pipeline=1 batch=128 budget=450
while (($#)); do
  case $1 in
    --cpu-check) mode=cpu ;;
    --tests) tests=$2; shift ;;
    --no-tests) run_tests=0 ;;
    --no-bench) run_bench=0 ;;
    --no-pipeline) run_pipeline=0 ;;
    --batch) batch=$2; shift ;;
    --budget) budget=$2; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run-gpu.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

work=$(mktemp -d "${TMPDIR:-/tmp}/dma-gpu-run.XXXXXX")
dest=${OUT:-$work}
mkdir -p "$dest"
exec > >(tee -a "$dest/run.log") 2>&1
start=$SECONDS
: > "$work/parts.tsv"
: > "$dest/bench.jsonl"

section() { printf '\n==== %s (%d s into the run)\n' "$1" $((SECONDS - start)); }
part() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$work/parts.tsv"; echo "---- $1: $2 $3"; }
# boxed SECONDS CMD...: the command under a timeout of SECONDS or what is left of the budget (status 124: timed out)
boxed() {
  local t=$1 left=$((budget - (SECONDS - start))); shift
  (( left < t )) && t=$left
  if (( t < 10 )); then echo "(not run: the run's time budget is spent)"; return 125; fi
  timeout --kill-after=10 "$t" "$@"
}
json() { "$py_json" - "$@"; }  # a small Python program on stdin, for reading JSON

# ---------------------------------------------------------------- 1. environment
section "environment"
echo "bundle: $b ($(head -1 "$b/BUNDLE.txt" 2>/dev/null)); mode $mode; writing to $dest"
uname -srm; echo "cpus: $(nproc)"
gpu="no GPU"
if command -v nvidia-smi >/dev/null; then
  boxed 30 nvidia-smi
  gpu=$(boxed 15 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
else
  echo "nvidia-smi: not found"
fi
source "$b/runtime.sh"
java=$(bundle_java) && "$java" -version 2>&1 | head -1 || { java=""; echo "the bundle's Java runtime could not be unpacked"; }
# the peer: the first interpreter that imports torch (the GPU machine's venv first)
py=""
for cand in ${DMA_PEER_PYTHON:-} /opt/torch/.venv/bin/python3 "$(command -v python3)" /usr/bin/python3; do
  [[ -n $cand && -x $cand ]] || continue
  if v=$("$cand" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "no cuda")' 2>/dev/null); then
    py=$cand; echo "peer: $py: $v; $("$py" -c 'import timm; print("timm", timm.__version__)' 2>/dev/null || echo 'no timm')"; break
  fi
done
[[ -n $py ]] || echo "peer: no python3 that imports torch (benchmarks run without the peer's figures)"
export DMA_PEER_PYTHON=$py
py_json=$(command -v python3 || echo "$py")
env_status=ok env_detail=""
if [[ -z $java ]]; then env_status=FAILED env_detail="no Java runtime"
else
  boxed 60 bash "$b/dma" doctor || env_status=FAILED
  boxed 60 bash "$b/dma" doctor --json > "$dest/doctor.json" 2>/dev/null
  env_detail=$(json "$dest/doctor.json" <<'EOF' 2>/dev/null
import json, sys
d = json.load(open(sys.argv[1]))
c = d["backends"]["cuda"]
print("cuda available" if c["available"] else "cuda unavailable: " + c["reason"])
EOF
)
fi
[[ $mode == gpu && $gpu == "no GPU" ]] && env_status=FAILED
part "environment" "$env_status" "${gpu}; ${env_detail:-doctor did not run}"

# ---------------------------------------------------------------- 2. the retargeted JCublas against cuBLAS 13
section "JCublas retargeted to cuBLAS 13: ldd -r"
cublas_lib=$(ls "$b"/lib/libJCublas2-*.so | head -1)
find_cublas13() {
  if [[ -n ${CUBLAS13_DIR:-} && -e $CUBLAS13_DIR/libcublas.so.13 ]]; then echo "$CUBLAS13_DIR"; return; fi
  local p d site
  p=$(ldconfig -p 2>/dev/null | awk '/libcublas\.so\.13 /{ print $NF; exit }')
  if [[ -n $p ]]; then dirname "$p"; return; fi
  for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/targets/x86_64-linux/lib; do
    if [[ -e $d/libcublas.so.13 ]]; then echo "$d"; return; fi
  done
  # the nvidia-cublas wheel inside the peer's Python (PyTorch's own cuBLAS)
  if [[ -n $py ]]; then
    for site in $("$py" -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null); do
      p=$(find "$site/nvidia" -maxdepth 4 -name 'libcublas.so.13*' 2>/dev/null | head -1)
      if [[ -n $p ]]; then dirname "$p"; return; fi
    done
  fi
  return 1
}
if dir=$(find_cublas13); then
  report=$(LD_LIBRARY_PATH="$dir" ldd -r "$cublas_lib" 2>&1)
  echo "$report" | grep -E 'cublas|not found|undefined|version `'
  missing=$(grep -cE 'not found|undefined symbol|version `' <<<"$report")
  if (( missing == 0 )) && grep -q "libcublas.so.13 => $dir" <<<"$report"; then
    part "cuBLAS 13 link (ldd -r)" ok "libcublas.so.13 from $dir; every symbol JCublas imports resolves"
  else
    part "cuBLAS 13 link (ldd -r)" FAILED "$missing missing against $dir (see run.log)"
  fi
  export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
elif [[ $mode == cpu ]]; then
  part "cuBLAS 13 link (ldd -r)" skipped "no libcublas.so.13 on this machine (gpu-bundle.sh checked the rewrite against a stub)"
else
  part "cuBLAS 13 link (ldd -r)" FAILED "no libcublas.so.13 found (ldconfig, /usr/local/cuda*, the nvidia-cublas wheel); set CUBLAS13_DIR"
fi
if [[ $mode == gpu ]]; then ldd "$b"/lib/libJCudaDriver-*.so | grep -E 'libcuda|not found'; fi

# ---------------------------------------------------------------- 3. tests
if (( run_tests )) && [[ -n $java ]]; then
  section "tests: ${tests}"
  roots=""
  for m in ${tests//,/ }; do
    if [[ -d $b/tests/$m ]]; then roots+="${roots:+:}$b/tests/$m"; else echo "no tests for '$m' in the bundle"; fi
  done
  cp=$(ls "$b"/jars/*.jar | paste -sd:)
  t0=$SECONDS
  # the surefire settings of the build (deep models need the larger stack); the summary and every failure are printed
  boxed $([[ $mode == gpu ]] && echo 300 || echo 400) "$java" -Xss4m -XX:+UseParallelGC --add-modules jdk.incubator.vector -Djava.library.path="$b/lib" -Ddma.home="$b" \
      -jar "$b"/tests/junit-platform-console-standalone-*.jar execute --disable-banner --disable-ansi-colors --details=summary \
      --class-path "$cp:$roots" --scan-class-path "$roots" --reports-dir "$work/reports" > "$work/tests.txt" 2>&1
  rc=$?
  # here: the launcher's counts and the failures grouped by cause; every stack trace goes to run.log only
  sed -n '/^Test run finished/,/tests failed/p' "$work/tests.txt"
  cat "$work/tests.txt" >> "$dest/run.log"
  cp "$work"/reports/TEST-junit-jupiter.xml "$dest/tests.xml" 2>/dev/null && json "$dest/tests.xml" <<'EOF'
import collections, sys, xml.etree.ElementTree as ET
groups = {"failed": collections.OrderedDict(), "skipped": collections.OrderedDict()}
for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    for child in case:
        kind = "skipped" if child.tag == "skipped" else "failed" if child.tag in ("failure", "error") else None
        if kind:
            text = (child.get("message") or child.text or child.get("type") or "?").strip().splitlines()[0]
            groups[kind].setdefault(text, []).append(case.get("classname").rsplit(".", 1)[-1] + "." + case.get("name"))
for kind, limit in (("failed", 25), ("skipped", 5)):
    for text, cases in list(groups[kind].items())[:limit]:
        print(f"{kind} {len(cases):>4} x {text[:300]}  (e.g. {cases[0]})")
    if len(groups[kind]) > limit:
        print(f"{kind}: {len(groups[kind]) - limit} more causes in tests.xml")
EOF
  count() { awk -v what="$1" '$0 ~ "tests " what { gsub(/[^0-9]/, "", $2); print $2; exit }' "$work/tests.txt"; }
  passed=$(count successful) failed=$(count failed) aborted=$(count aborted) skipped=$(count skipped)
  detail="${passed:-?} passed, ${failed:-?} failed, $(( ${aborted:-0} + ${skipped:-0} )) skipped in $((SECONDS - t0)) s"
  if (( rc == 124 || rc == 137 )); then part "tests ($tests)" FAILED "timed out; $detail"
  elif (( rc != 0 )) || [[ -z $passed ]]; then part "tests ($tests)" FAILED "$detail (launcher status $rc)"
  else part "tests ($tests)" ok "$detail"; fi
fi

# ---------------------------------------------------------------- 4. benchmarks
# bench NAME SECONDS ARGS...: one `dma bench ... --json` run, its JSON (or why there is none) appended to bench.jsonl
bench() {
  local name=$1 t=$2 rc; shift 2
  echo "-- dma bench $*"
  boxed "$t" bash "$b/dma" bench "$@" --json > "$work/bench.out" 2> "$work/bench.err"
  rc=$?
  cat "$work/bench.err"
  json "$name" "$rc" "$work/bench.out" "$work/bench.err" >> "$dest/bench.jsonl" <<'EOF'
import json, sys
name, rc, out, err = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    r = json.loads(open(out).read())
except ValueError:
    lines = [l for l in open(err).read().splitlines() if l.strip()]
    r = {"error": lines[-1] if lines else ("timed out" if rc in (124, 137) else f"exit status {rc}, no output")}
r.update(run=name, rc=rc)
print(json.dumps(r))
EOF
  json "$(tail -1 "$dest/bench.jsonl")" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
if "error" in r:
    print(f"   failed: {r['error']}")
else:
    fig = lambda s: f"{s['median']:.2f}" if "median" in s else "n/a (" + str(s.get("reason", "?")) + ")"
    ratio = f"{r['ratio']:.3f}" if isinstance(r.get("ratio"), (int, float)) else "-"
    print(f"   dma {fig(r.get('ours', {}))} | torch {fig(r.get('peer', {}))} | ratio {ratio}")
EOF
  return $rc
}
if (( run_bench )) && [[ -n $java ]]; then
  section "benchmarks"
  bench_status=ok
  if [[ $mode == gpu ]]; then
    for n in 4096 8192; do
      bench "gemm fp32 $n" 90 gemm --backend cuda --size $n --dtype fp32 --reps 10 || bench_status=FAILED
    done
    for n in 4096 8192; do
      bench "gemm bf16 $n" 90 gemm --backend cuda --size $n --dtype bf16 --reps 10 || bench_status=FAILED
    done
    # the ceiling for MFU: the fastest bf16 8192³ product measured above (ours once it exists, else torch's)
    ceiling=$(json "$dest/bench.jsonl" <<'EOF' 2>/dev/null
import json, sys
best = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["run"] == "gemm bf16 8192":
        best = max([best] + [s.get("median", 0) for s in (r.get("ours", {}), r.get("peer", {}))])
print(f"{best:.1f}" if best > 0 else "")
EOF
)
    echo "bf16 GEMM ceiling for MFU: ${ceiling:+$ceiling TFLOP/s}${ceiling:-not measured (the peer measures its own)}"
    bench "deit-step fp32 b$batch" 150 deit-step --backend cuda --batch "$batch" --reps 5 ${ceiling:+--ceiling-tflops $ceiling} || bench_status=FAILED
    bench "deit-step bf16 b$batch" 150 deit-step --backend cuda --batch "$batch" --bf16 --reps 5 ${ceiling:+--ceiling-tflops $ceiling} || bench_status=FAILED
  else
    # without a GPU the GPU benchmarks must stop at once, saying why (exit status 2), and the CPU paths must work
    bench "gemm fp32 4096 (no GPU)" 60 gemm --backend cuda --size 4096 --no-peer
    last=$(tail -1 "$dest/bench.jsonl")
    [[ $last == *'"rc": 2'* && $last == *'"error": "dma gemm: cuda: '* ]] || bench_status=FAILED
    bench "gemm cpu 256" 60 gemm --backend cpu --size 256 --reps 5 || bench_status=FAILED
    bench "deit-step cpu b1 d1" 120 deit-step --backend cpu --batch 1 --depth 1 --reps 5 --no-peer --ceiling-tflops 1 || bench_status=FAILED
  fi
  part "benchmarks" "$bench_status" "$(wc -l < "$dest/bench.jsonl") runs in bench.jsonl"
fi

# ---------------------------------------------------------------- 5. the pipeline
# The README's main job on the bundle's 12 000 Fashion-MNIST images: meta, four incubations, assembly, fine-tune and
# E2E at the same budget, on the GPU (here, with --cpu-check, on the CPU); the run directory goes to $dest/pipeline.
if (( run_pipeline )) && [[ -n $java ]]; then
  section "pipeline"
  if [[ -f $b/data/pipeline.json ]]; then
    device=$([[ $mode == gpu ]] && echo cuda || echo cpu)
    sed "s|@DATA@|$b/data/fashion-mnist|" "$b/data/pipeline.json" > "$work/pipeline.json"
    t0=$SECONDS
    boxed $([[ $mode == gpu ]] && echo 180 || echo 400) bash "$b/dma" pipeline --backend "$device" --config "$work/pipeline.json" \
        --run-dir "$dest/pipeline" > "$work/pipeline.txt" 2>&1
    rc=$?
    grep -v 'step/s' "$work/pipeline.txt" | tail -12
    detail=$(json "$dest/pipeline/summary.json" <<'EOF' 2>/dev/null
import json, sys
methods = json.load(open(sys.argv[1]))["methods"]
print(", ".join(f"{m['method']} {100 * m['accuracy']:.2f}%" for m in methods))
EOF
)
    if (( rc == 0 )) && [[ -n $detail ]]; then part "pipeline ($device)" ok "$detail in $((SECONDS - t0)) s"
    elif (( rc == 124 || rc == 137 )); then part "pipeline ($device)" FAILED "timed out after $((SECONDS - t0)) s (see run.log)"
    else part "pipeline ($device)" FAILED "exit status $rc (see run.log)"; fi
    cat "$work/pipeline.txt" >> "$dest/run.log"
  else
    part "pipeline" skipped "the bundle has no data (built where Fashion-MNIST was not installed)"
  fi
fi

# ---------------------------------------------------------------- 6. summary
section "summary"
json "$work/parts.tsv" "$dest/bench.jsonl" "$gpu" "$mode" > "$dest/summary.txt" <<'EOF'
import json, sys
parts_file, bench_file, gpu, mode = sys.argv[1:]
print(f"dma GPU run ({'CPU check, no GPU' if mode == 'cpu' else gpu})")
print(f"{'part':<28} {'status':<8} detail")
for line in open(parts_file):
    name, status, detail = line.rstrip("\n").split("\t")
    print(f"{name:<28} {status:<8} {detail}")
runs = [json.loads(l) for l in open(bench_file) if l.strip()]
if runs:
    print()
    print(f"{'benchmark':<34} {'dma':>10} {'torch':>10} {'ratio':>7}   MFU dma / torch")
    notes = []
    for r in runs:
        unit = ("TFLOP/s" if r.get("backend") == "cuda" or mode == "gpu" else "GFLOP/s") if r["run"].startswith("gemm") else "img/s"
        ours, peer = r.get("ours", {}), r.get("peer", {})
        def fig(side, who):
            if "median" in side:
                return f"{side['median']:.1f}"
            if "error" in r:
                notes.append(f"  {r['run']}: {r['error']}")
            else:
                notes.append(f"  {r['run']}, {who}: {side.get('reason') or 'not run'}")
            return "n/a"
        ratio = f"{r['ratio']:.2f}" if isinstance(r.get("ratio"), (int, float)) else "-"
        mfu = ""
        if r.get("workload") == "deit-step":
            pct = lambda s: f"{100 * s['mfu']:.1f}%" if isinstance(s.get("mfu"), (int, float)) else "-"
            mfu = f"{pct(ours)} / {pct(peer)}"
        print(f"{r['run'] + ' (' + unit + ')':<34} {fig(ours, 'dma'):>10} {fig(peer, 'torch'):>10} {ratio:>7}   {mfu}")
    if notes:
        print("n/a:")
        print("\n".join(dict.fromkeys(notes)))
EOF
cat "$dest/summary.txt"
failed_parts=$(awk -F'\t' '$2 == "FAILED"' "$work/parts.tsv" | wc -l)
echo "run took $((SECONDS - start)) s; ${failed_parts} part(s) failed; files in $dest"
[[ -z ${OUT:-} ]] || rm -rf "$work"
(( failed_parts == 0 ))
