#!/usr/bin/env bash
# Builds one folder (default target/gpu-bundle/) that runs the GPU tests and benchmarks on a machine with a GPU
# but no Java: copy it there and run its run-gpu.sh (here, `run-gpu.sh --cpu-check` runs the CPU suite from it).
#
#   runtime.tar.gz  a jlink Java runtime with only the modules the shipped jars need (found with jdeps), gzipped
#              (31 MB unpacked, 17 packed); runtime.sh unpacks it on first use outside the bundle, under $TMPDIR
#   jars/      the project's module jars and their runtime dependencies, without JCuda's natives jars (their
#              10 MB hold CUDA 12 libraries we do not use) and with OpenBLAS's natives jar cut to what the engine loads
#   lib/       the two JCuda natives we use, found through -Djava.library.path before any jar: the driver API's,
#              and JCublas's retargeted from libcublas.so.12 to libcublas.so.13 (scripts/retarget-cublas.py)
#   tests/     the engine's and models' compiled tests and the JUnit console launcher
#   bench/peers/  the PyTorch peer scripts;  dma  the command line;  run-gpu.sh  the whole GPU run
#   data/      12 000 + 2 000 Fashion-MNIST images and the default pipeline config for them (where this machine has
#              the dataset: Debian's dataset-fashion-mnist, or FASHION_MNIST_DIR)
#
# The folder must stay under 64 MiB (what may travel to the GPU machine): the script prints its size and fails
# at or above that. Environment: CUBLAS13_DIR, a folder holding libcublas.so.13, to check the retargeted
# library against the real cuBLAS 13 with `ldd -r` (without it, against a stub cuBLAS 13 built here with gcc).
# Usage: scripts/gpu-bundle.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(realpath -m "${1:-$root/target/gpu-bundle}")
limit=$((64 * 1024 * 1024))
jcuda=12.6.0 junit_platform=1.14.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() { echo "[gpu-bundle] $*"; }

# ---------------------------------------------------------------- build: jars, test classes, runtime class path
say "building the modules (mvn -DskipTests package; test classes are compiled too)"
(cd "$root" && mvn -o -q -B -Dstyle.color=never -pl bench -am -DskipTests package \
    dependency:build-classpath -Dmdep.outputFile="$tmp/cp.txt" -Dmdep.includeScope=runtime) >&2
console=$HOME/.m2/repository/org/junit/platform/junit-platform-console-standalone/$junit_platform/junit-platform-console-standalone-$junit_platform.jar
if [[ ! -f $console ]]; then
  say "fetching the JUnit console launcher $junit_platform from Maven Central"
  (cd "$root" && mvn -q -B -Dstyle.color=never dependency:get -Dtransitive=false \
      -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_platform) >&2
fi

rm -rf "$out"
mkdir -p "$out"/{jars,lib,tests,bench/peers}
jcuda_natives="" jcublas_natives="" openblas_natives=""
for jar in $(tr ':' ' ' < "$tmp/cp.txt"); do
  name=$(basename "$jar")
  case "$name" in
    jcuda-natives-*) jcuda_natives=$jar ;;                    # unpacked into lib/ below
    jcublas-natives-*) jcublas_natives=$jar ;;
    openblas-*-linux-x86_64.jar) openblas_natives=$jar ;;     # slimmed below
    # the console launcher carries JUnit itself; jfreechart (the trainer's PNG plots) stays out, which keeps
    # java.desktop out of the runtime: `dma pipeline` there says so and how to draw the plots elsewhere (--report-only).
    # JMH stays: `dma bench ops` is a subcommand, and picocli loads every subcommand's classes when the command line
    # is built.
    junit-*|opentest4j-*|apiguardian-*|jfreechart-*) ;;
    *) cp "$jar" "$out/jars/" ;;
  esac
done
[[ -n $jcuda_natives && -n $jcublas_natives && -n $openblas_natives ]] || { say "natives jars missing from the class path"; exit 1; }
# the bench module's own jar (the class path above is its dependencies): the `dma bench` commands
cp "$root"/bench/target/dma-bench-*.jar "$out/jars/"

# OpenBLAS: the engine loads openblas_nolapack only; its jar also holds two 24 MB JNI libraries for the LAPACK
# builds and the C headers. Everything else (libopenblas.so.0, the Fortran runtime, javacpp's metadata) stays.
python3 - "$openblas_natives" "$out/jars/$(basename "$openblas_natives")" <<'EOF'
import sys, zipfile
src, dst = sys.argv[1:]
drop = ("/libjniopenblas.so", "/libjniopenblas_full.so")
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
    for item in zin.infolist():
        if item.filename.endswith(drop) or "/include/" in item.filename:
            continue
        zout.writestr(item, zin.read(item.filename), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
EOF

# ---------------------------------------------------------------- natives: JCuda driver + retargeted JCublas
driver_lib=libJCudaDriver-$jcuda-linux-x86_64.so cublas_lib=libJCublas2-$jcuda-linux-x86_64.so
unzip -p "$jcuda_natives" "lib/$driver_lib" > "$out/lib/$driver_lib"
unzip -p "$jcublas_natives" "lib/$cublas_lib" > "$out/lib/$cublas_lib"
say "retargeting $cublas_lib to cuBLAS 13"
python3 "$root/scripts/retarget-cublas.py" "$out/lib/$cublas_lib" | sed 's/^/    /'
needed=$(readelf -d "$out/lib/$cublas_lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | paste -sd' ')
verneed=$(readelf -V "$out/lib/$cublas_lib" | grep -E 'File: libcublas|Name: libcublas' | sed 's/^ *[0-9a-fx]*: *//' | paste -sd' ')
say "readelf: NEEDED $needed"
say "readelf: version needs: $verneed"
if [[ " $needed " == *" libcublas.so.12 "* || " $needed " != *" libcublas.so.13 "* || $verneed != *"File: libcublas.so.13"*"Name: libcublas.so.13"* ]]; then
  say "the retargeted library does not name libcublas.so.13 everywhere"; exit 1
fi
# ldd -r: every cuBLAS function JCublas imports must resolve, with its version tag.
ldd_check() {  # DIR: fails unless libJCublas2 links against DIR's libcublas.so.13 with no symbol missing
  local report; report=$(LD_LIBRARY_PATH="$1" ldd -r "$out/lib/$cublas_lib" 2>&1)
  if grep -qE 'not found|undefined symbol|version `' <<<"$report"; then
    grep -E 'not found|undefined symbol|version `' <<<"$report" | head -5; return 1
  fi
  grep -q "libcublas.so.13 => $1" <<<"$report"
}
if [[ -n ${CUBLAS13_DIR:-} ]]; then
  ldd_check "$CUBLAS13_DIR" || { say "ldd -r against $CUBLAS13_DIR failed"; exit 1; }
  say "ldd -r: every symbol resolves against $CUBLAS13_DIR/libcublas.so.13"
elif command -v gcc >/dev/null; then
  # No cuBLAS 13 here: a stub that exports the imported functions under the tag libcublas.so.13 proves that the
  # loader accepts the rewritten version need (a name-only rewrite fails this with "version `libcublas.so.13' not found").
  readelf --dyn-syms -W "$out/lib/$cublas_lib" | grep -o '[A-Za-z0-9_]*@libcublas\.so\.13' | sed 's/@.*//' | sort -u > "$tmp/syms"
  { echo 'libcublas.so.13 { global:'; sed 's/$/;/' "$tmp/syms"; echo 'local: *; };'; } > "$tmp/stub.map"
  sed 's/.*/void &(void) {}/' "$tmp/syms" > "$tmp/stub.c"
  mkdir -p "$tmp/stub" && gcc -shared -fPIC -o "$tmp/stub/libcublas.so.13" -Wl,-soname,libcublas.so.13 -Wl,--version-script="$tmp/stub.map" "$tmp/stub.c"
  ldd_check "$tmp/stub" || { say "ldd -r against a stub cuBLAS 13 failed: the version need was not rewritten"; exit 1; }
  say "ldd -r: all $(wc -l < "$tmp/syms") imported cuBLAS functions resolve against a stub libcublas.so.13 (set CUBLAS13_DIR to check the real one)"
else
  say "ldd -r not checked here (no CUBLAS13_DIR, no gcc); run-gpu.sh checks it on the GPU machine"
fi

# ---------------------------------------------------------------- tests, peers, scripts
cp "$console" "$out/tests/"
# as folders, not jars: the models tests read their golden files through Path.of(resource URI)
for m in engine models; do cp -r "$root/$m/target/test-classes" "$out/tests/$m"; done
# not the fuzz tests (Jazzer, the readers of untrusted files, CPU only): their jazzer-junit is not in the bundle
find "$out/tests" \( -name '*FuzzTest*' -o -name '*FuzzSeeds*' \) -prune -exec rm -rf {} +
cp "$root"/bench/peers/{torch_bench.py,timm_layout.py} "$out/bench/peers/"
cp "$root/scripts/run-gpu.sh" "$out/run-gpu.sh"

# ---------------------------------------------------------------- the pipeline's data
# The GPU machine has no Fashion-MNIST: the first 12 000 training and 2 000 test images (as many training images as
# the default config's 20%) travel with the bundle (6 MiB), with the default config pointed at them (@DATA@, which
# run-gpu.sh fills in), so that run-gpu.sh runs the whole pipeline there.
fmnist=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [[ -f $fmnist/train-images-idx3-ubyte.gz ]]; then
  mkdir -p "$out/data/fashion-mnist"
  python3 - "$fmnist" "$out/data/fashion-mnist" <<'EOF'
import gzip, struct, sys
src, dst = sys.argv[1:]
for name, count in (("train-images-idx3-ubyte.gz", 12000), ("train-labels-idx1-ubyte.gz", 12000),
                    ("t10k-images-idx3-ubyte.gz", 2000), ("t10k-labels-idx1-ubyte.gz", 2000)):
    data = gzip.open(f"{src}/{name}").read()
    magic = struct.unpack(">I", data[:4])[0]
    rank = magic & 0xFF
    dims = list(struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank]))
    per = 1
    for d in dims[1:]:
        per *= d
    head = 4 + 4 * rank
    with gzip.open(f"{dst}/{name}", "wb") as f:
        f.write(struct.pack(">I", magic) + struct.pack(">" + "I" * rank, count, *dims[1:]) + data[head:head + count * per])
EOF
  sed -e 's|"path": *"[^"]*"|"path": "@DATA@"|' -e 's|"train_fraction": *[0-9.]*|"train_fraction": 1.0|' \
      "$root/trainer/src/main/resources/default-config.json" > "$out/data/pipeline.json"
  grep -q '"path": "@DATA@"' "$out/data/pipeline.json" || { say "the default config's data path was not found"; exit 1; }
else
  say "no Fashion-MNIST in $fmnist (apt-get install dataset-fashion-mnist, or set FASHION_MNIST_DIR): run-gpu.sh will skip the pipeline"
fi
cp "$root/scripts/retarget-cublas.py" "$out/"
cat > "$out/runtime.sh" <<'EOF'
# Sourced by dma and run-gpu.sh: bundle_java prints the path of the bundle's java, unpacking runtime.tar.gz on
# first use into $TMPDIR (never into the bundle, which stays the size that was copied).
bundle_java() {
  local b; b=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  local rt="${TMPDIR:-/tmp}/dma-gpu-runtime-$(cksum < "$b/runtime.tar.gz" | cut -d' ' -f1)"
  if [[ ! -x $rt/bin/java ]]; then
    local t; t=$(mktemp -d "${TMPDIR:-/tmp}/dma-gpu-runtime.XXXXXX") || return 1
    tar -xzf "$b/runtime.tar.gz" -C "$t" || { rm -rf "$t"; return 1; }
    mv -T "$t/runtime" "$rt" 2>/dev/null || true  # a concurrent first run may have won: either copy will do
    rm -rf "$t"
  fi
  echo "$rt/bin/java"
}
EOF
cat > "$out/dma" <<'EOF'
#!/usr/bin/env bash
# The dma command line on the bundle's own Java runtime. DMA_PEER_PYTHON: the interpreter with PyTorch for the peers.
b=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$b/runtime.sh"
java=$(bundle_java) || { echo "dma: could not unpack $b/runtime.tar.gz" >&2; exit 1; }
exec "$java" -Xss4m -XX:+UseParallelGC --add-modules jdk.incubator.vector -Djava.library.path="$b/lib" -Ddma.home="$b" \
  ${DMA_PEER_PYTHON:+-Ddma.peer.python=$DMA_PEER_PYTHON} ${DMA_JAVA_OPTS:-} -cp "$b/jars/*" dma.trainer.cli.Main "$@"
EOF
chmod +x "$out/dma" "$out/run-gpu.sh"

# ---------------------------------------------------------------- the Java runtime
# jdeps over everything that runs there. Left out on purpose: java.desktop (the trainer's plots and Jackson's
# optional java.beans support), java.sql (Jackson's optional java.sql types) and java.compiler (annotation
# processing): 14 MB that nothing on the GPU machine loads; the CPU suite run from the bundle proves it.
cp_all=$(ls "$out"/jars/*.jar "$out"/tests/*.jar | paste -sd:)
modules=$(jdeps --ignore-missing-deps --print-module-deps --multi-release 17 --class-path "$cp_all" \
    "$out"/jars/*.jar "$out"/tests/*.jar "$out"/tests/engine "$out"/tests/models 2>/dev/null | tail -1)
# java.logging (JCuda's loader, JUnit) and java.xml (the console launcher's XML report) are loaded reflectively
# jdk.incubator.vector: the CPU kernels' Vector API (jdeps lists it too; named here so the runtime never lacks it)
modules=$(tr ',' '\n' <<<"$modules,java.logging,java.xml,jdk.incubator.vector" | grep -vxE 'java\.desktop|java\.sql|java\.compiler' | sort -u | paste -sd,)
say "jlink runtime with: $modules"
jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --compress=2 --output "$tmp/runtime"
# the JDK's libraries carry their symbol tables; the runtime needs only the dynamic symbols
if command -v strip >/dev/null; then find "$tmp/runtime/lib" -name '*.so' -exec strip --strip-unneeded {} +; fi
java_version=$("$tmp/runtime/bin/java" -version 2>&1 | head -1)
runtime_mib=$(du -sk "$tmp/runtime" | awk '{printf "%.1f", $1 / 1024}')
tar -czf "$out/runtime.tar.gz" -C "$tmp" runtime

# ---------------------------------------------------------------- manifest and size
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
{
  echo "dma GPU bundle, built $(date -u +%FT%TZ) from commit $commit$dirty"
  echo "runtime: $java_version, modules $modules ($runtime_mib MiB unpacked)"
  echo "lib: $driver_lib, $cublas_lib (NEEDED $needed)"
  echo "run: ./run-gpu.sh            (on the GPU machine; writes under \$OUT when set)"
  echo "     ./run-gpu.sh --cpu-check (anywhere: the CPU suite from this runtime, GPU tests skipping)"
  echo; (cd "$out" && du -sk runtime.tar.gz jars lib tests bench $(ls -d data 2>/dev/null) | awk '{printf "%-16s %7.1f MiB\n", $2, $1 / 1024}')
} > "$out/BUNDLE.txt"
bytes=$(du -sb "$out" | cut -f1)
awk -v b="$bytes" -v d="$out" 'BEGIN { printf "[gpu-bundle] %s: %.1f MiB (limit 64 MiB)\n", d, b / 1048576 }'
sed -n '7,$p' "$out/BUNDLE.txt" | sed 's/^/    /'
if (( bytes >= limit )); then say "too large: the GPU machine takes at most 64 MiB"; exit 1; fi
