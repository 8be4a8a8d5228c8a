#!/usr/bin/env bash
# Compiles every CUDA source into a fatbin with sm_90 machine code (H100/H200) and compute_80 PTX
# (any newer GPU, JIT-compiled by the driver), and records registers and spills from -Xptxas -v; writes the
# integer codes of codes.cuh as codes.txt (with or without nvcc).
# Usage: build-kernels.sh SRC_DIR OUT_DIR. Sources unchanged since their fatbin are not recompiled.
set -euo pipefail
src=$1 out=$2 script=$(readlink -f "$0")
mkdir -p "$out"
# The integer codes the Java side passes in place of enums (codes.cuh) as NAME=VALUE lines, for the CUDA backend's
# check on loading and KernelCodesTest. Written with or without nvcc: the check needs no compiler and no GPU.
awk '
  { line = $0; sub(/\/\/.*/, "", line) }
  line ~ /^[[:space:]]*enum[^{]*\{[[:space:]]*$/ { inenum = 1; next }
  inenum && line ~ /^[[:space:]]*\};?[[:space:]]*$/ { inenum = 0; next }
  inenum && line ~ /^[[:space:]]*$/ { next }
  inenum && line ~ /^[[:space:]]*[A-Z][A-Z0-9_]*[[:space:]]*=[[:space:]]*-?[0-9]+[[:space:]]*,?[[:space:]]*$/ {
    gsub(/[[:space:],]/, "", line); split(line, kv, "=")
    if (kv[1] in seen) { print FILENAME ":" FNR ": " kv[1] " defined twice" > "/dev/stderr"; bad = 1 }
    seen[kv[1]] = 1; print kv[1] "=" kv[2] + 0; next
  }
  inenum || line !~ /^[[:space:]]*(#pragma once)?[[:space:]]*$/ {
    print FILENAME ":" FNR ": codes.cuh holds enums of one NAME = INTEGER, per line and nothing else: " $0 > "/dev/stderr"; bad = 1
  }
  END { exit bad }
' "$src/codes.cuh" > "$out/codes.txt.tmp" || { rm -f "$out/codes.txt.tmp"; echo "[kernels] cannot read the codes in $src/codes.cuh" >&2; exit 1; }
mv "$out/codes.txt.tmp" "$out/codes.txt"
if ! command -v nvcc >/dev/null 2>&1; then
  echo "[kernels] nvcc not found on PATH: CUDA kernels not built (the CUDA backend will report 'kernels not built')"
  rm -f "$out/kernels.properties"
  exit 0
fi
nvcc_version=$(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
flags=(-O3 -std=c++17 -fatbin -Xptxas -v -lineinfo
       -gencode arch=compute_90,code=sm_90 -gencode arch=compute_80,code=compute_80)
headers=$(ls "$src"/*.cuh 2>/dev/null || true)
compile() {  # one source → out/NAME.fatbin + out/NAME.ptxas.txt
  local cu=$1 name; name=$(basename "$cu" .cu)
  local fatbin="$out/$name.fatbin" log="$out/$name.ptxas.txt"
  if [[ -f $fatbin && -f $log && -f $out/$name.signatures.txt && $fatbin -nt $cu && $fatbin -nt $script ]] && ! [[ -n $headers && $(find "$src" -name '*.cuh' -newer "$fatbin" | head -1) ]]; then
    return 0
  fi
  if ! nvcc "${flags[@]}" -I"$src" -o "$fatbin.tmp" "$cu" >"$log.tmp" 2>&1; then
    cat "$log.tmp" >&2; rm -f "$fatbin.tmp"; echo "[kernels] nvcc failed on $cu" >&2; return 1
  fi
  # The PTX of the same source gives each kernel's parameter types (the Java side checks every launch against them).
  if ! nvcc -O3 -std=c++17 -ptx -arch=compute_80 -I"$src" -o "$out/$name.ptx.tmp" "$cu" 2>>"$log.tmp"; then
    cat "$log.tmp" >&2; rm -f "$fatbin.tmp"; echo "[kernels] nvcc -ptx failed on $cu" >&2; return 1
  fi
  awk -v fam="$name" '
    /\.entry/ { match($0, /\.entry [A-Za-z0-9_]+/); fn = substr($0, RSTART + 7, RLENGTH - 7); types = ""; inparams = 1; next }
    inparams && /\.param/ { match($0, /\.param \.[a-z0-9]+/); t = substr($0, RSTART + 8, RLENGTH - 8); types = types (types == "" ? "" : ",") t }
    inparams && /\)/ { print fam, fn, types; inparams = 0 }
  ' "$out/$name.ptx.tmp" > "$out/$name.signatures.txt"
  rm -f "$out/$name.ptx.tmp"
  mv "$fatbin.tmp" "$fatbin"; mv "$log.tmp" "$log"
}
failed=0
for cu in "$src"/*.cu; do compile "$cu" & done
for job in $(jobs -p); do wait "$job" || failed=1; done
[[ $failed == 0 ]] || exit 1
families=$(for cu in "$src"/*.cu; do basename "$cu" .cu; done | paste -sd, -)
# One line per kernel and architecture: registers, spills, shared memory, stack frame.
report="$out/ptxas.txt"
for cu in "$src"/*.cu; do
  name=$(basename "$cu" .cu)
  awk -v fam="$name" '
    /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); fn = substr($0, RSTART+1, RLENGTH-2); match($0, /sm_[0-9]+/); arch = substr($0, RSTART, RLENGTH) }
    /bytes stack frame/ { split($0, a, /[ ,]+/); for (i in a) { if (a[i+1] == "bytes" && a[i+2] == "stack") frame = a[i]; if (a[i+1] == "bytes" && a[i+2] == "spill" && a[i+3] == "stores") st = a[i]; if (a[i+1] == "bytes" && a[i+2] == "spill" && a[i+3] == "loads") ld = a[i] } }
    /Used [0-9]+ registers/ { match($0, /Used [0-9]+ registers/); regs = substr($0, RSTART+5, RLENGTH-15); smem = 0; if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH-11) + 0;
                              printf "%s %s %s registers=%s spill_stores=%s spill_loads=%s stack=%s smem=%s\n", fam, fn, arch, regs, st+0, ld+0, frame+0, smem }
  ' "$out/$name.ptxas.txt"
done > "$report"
cat "$out"/*.signatures.txt > "$out/signatures.txt"
{
  echo "built=true"
  echo "nvcc=$nvcc_version"
  echo "targets=sm_90,compute_80"
  echo "families=$families"
} > "$out/kernels.properties"
kernels=$(wc -l < "$report")
spills=$(awk '{ split($5, s, "="); split($6, l, "="); if (s[2] + l[2] > 0) n++ } END { print n + 0 }' "$report")
echo "[kernels] nvcc $nvcc_version: $(echo "$families" | tr , ' ') → $kernels kernels (sm_90 code + compute_80 PTX), $spills with spills; report in $report"
