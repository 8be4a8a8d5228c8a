#!/usr/bin/env bash
# Coverage-guided fuzzing of the readers of untrusted files, one Jazzer @FuzzTest at a time (`mvn test` runs the same
# tests in regression mode, on their committed seeds only).
#
# Usage: scripts/fuzz.sh [TARGET|all|list] [SECONDS]      (defaults: all, 600 seconds per target)
#   TARGET   a fuzz test method: safetensors tensorFiles checkpoint idx cifar imageFolder dataShard config resultJson
#            launchJson attemptJson metricsJsonl summaryJson
#   SECONDS  how long libFuzzer runs on it
# Per target it prints the executions, the coverage libFuzzer reports (cov: edges of the project's instrumented code,
# ft: features, corpus size) and the findings; the whole log is in target/fuzz/TARGET.log. Exit status 1 if any target
# had a finding. FUZZ_MVN_ARGS: Maven's extra arguments (default -o, offline; set it to '' to let Maven download).
#
# How it runs (jazzer-junit 0.24.0): JAZZER_FUZZ=1 turns the one @FuzzTest selected with -Dtest into a libFuzzer
# session. Its length is @FuzzTest(maxDuration) (10m here) unless libFuzzer's own -max_total_time is given: Jazzer takes
# extra libFuzzer flags from the JUnit configuration parameters jazzer.internal.arg.N (N = 0 is argv[0]; Surefire passes
# -D properties on, and JUnit reads system properties as configuration parameters) and appends them last, so they win.
# The per-input time limit is the tests' @Timeout (10 s), which Jazzer passes to libFuzzer as -timeout; JUnit's own
# enforcement of it is switched off (junit.jupiter.execution.timeout.mode=disabled), or it would stop the session.
# Jazzer's hooks (the comparison tracing that guides the fuzzer, and its bug detectors), off for `mvn test`, are on.
#
# Where things go: the corpus libFuzzer grows in <module>/.cifuzz-corpus/<class>/<method>/ (not committed); a finding
# (crash-<sha1>, timeout-<sha1>) in <module>/src/test/resources/<package>/<Class>Inputs/<method>/, which `mvn test`
# then runs as a regression input: fix the reader, keep the file (give it a name that says what it is) and commit it.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${1:-all} seconds=${2:-600}

declare -A where=(
  [safetensors]="engine dma.engine.io.ParsersFuzzTest" [tensorFiles]="engine dma.engine.io.ParsersFuzzTest"
  [checkpoint]="models dma.models.CheckpointFuzzTest"
  [idx]="trainer dma.trainer.ReadersFuzzTest" [cifar]="trainer dma.trainer.ReadersFuzzTest"
  [imageFolder]="trainer dma.trainer.ReadersFuzzTest" [dataShard]="trainer dma.trainer.ReadersFuzzTest"
  [config]="trainer dma.trainer.ReadersFuzzTest" [resultJson]="trainer dma.trainer.ReadersFuzzTest"
  [launchJson]="trainer dma.trainer.ReadersFuzzTest" [attemptJson]="trainer dma.trainer.ReadersFuzzTest"
  [metricsJsonl]="trainer dma.trainer.ReadersFuzzTest" [summaryJson]="trainer dma.trainer.ReadersFuzzTest"
)
order=(safetensors tensorFiles checkpoint idx cifar imageFolder dataShard config resultJson launchJson attemptJson metricsJsonl summaryJson)

case $target in
  list) printf '%s\n' "${order[@]}"; exit 0 ;;
  all) targets=("${order[@]}") ;;
  *) [[ -n ${where[$target]:-} ]] || { echo "fuzz.sh: unknown target '$target'; targets: ${order[*]}" >&2; exit 2; }
     targets=("$target") ;;
esac
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "fuzz.sh: SECONDS must be a positive whole number, got '$seconds'" >&2; exit 2; }

mkdir -p "$root/target/fuzz"
found=0
for t in "${targets[@]}"; do
  read -r module class <<<"${where[$t]}"
  log=$root/target/fuzz/$t.log
  inputs=$root/$module/src/test/resources/$(dirname "${class//.//}")/${class##*.}Inputs/$t
  before=$(ls "$inputs" 2>/dev/null | sort)
  echo "== $t ($class#$t in $module, $seconds s; log: ${log#$root/})"
  start=$(date +%s)
  (cd "$root" && JAZZER_FUZZ=1 mvn -B ${FUZZ_MVN_ARGS--o} test -pl "$module" -am -Dtest="$class#$t" -Dsurefire.failIfNoSpecifiedTests=false \
      -Djunit.jupiter.execution.timeout.mode=disabled -Djazzer.hooks=true -Djazzer.internal.arg.0=fuzz.sh -Djazzer.internal.arg.1=-max_total_time="$seconds" \
      >"$log" 2>&1)
  status=$?
  # libFuzzer's last status line (DONE at the end of a session, else the last one before a finding)
  last=$(grep -aE '^#[0-9]+[[:space:]]+(INITED|NEW|REDUCE|pulse|DONE|RELOAD)' "$log" | tail -1)
  runs=$(grep -aoE '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)
  new=$(comm -13 <(echo "$before") <(ls "$inputs" 2>/dev/null | sort) | grep -v '^$')
  echo "   wall $(( $(date +%s) - start )) s, mvn exit $status"
  echo "   executions: ${runs:-$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last") (no DONE line)}"
  if [[ -n $last ]]; then
    sed -nE 's/.*cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+)\/([^ ]+).* exec\/s: ([0-9]+).*/   coverage: \1 edges (cov), \2 features (ft), corpus \3 inputs (\4), \5 exec\/s/p' <<<"$last"
  else
    echo "   coverage: no libFuzzer status line (did the session start? see the log)"
  fi
  if [[ -n $new ]] || grep -aqE '== Java Exception|FuzzTestFindingException|Test unit written to' "$log" || [[ $status -ne 0 ]]; then
    found=1
    echo "   FINDINGS:"
    grep -aE '== Java Exception:|^Caused by: |Test unit written to' "$log" | head -20 | sed 's/^/     /'
    for f in $new; do echo "     new input: ${inputs#$root/}/$f"; done
    [[ -z $new && $status -ne 0 ]] && echo "     (no new input written; the build or session failed: see the log)"
  else
    echo "   findings: none"
  fi
done
exit $found
