#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, started by hand (no systemd): munged, slurmctld and slurmd,
# with every file (config, keys, state, logs, PIDs) under one directory. Read it as the how-to; CI runs it.
#
#   eval "$(scripts/slurm-cluster.sh start)"   # install if needed, start, print the environment to use it
#   sbatch --wrap hostname; squeue; sinfo       # an ordinary cluster from here on
#   ./dma pipeline --launcher slurm --run-dir "$PWD/runs/x" ...
#   scripts/slurm-cluster.sh status            # daemons and node state
#   scripts/slurm-cluster.sh stop              # stops the daemons it started, by their PIDs
#
# start is idempotent: a cluster already running from the same directory is reused (DMA_SLURM_STARTED=no, so a
# caller knows not to stop it). It prints only `export ...` lines on stdout (messages go to stderr) and exits non-zero,
# saying why on its last line, when it cannot start, after stopping whatever it had started.
#
# Environment: DMA_SLURM_DIR (default /tmp/dma-slurm), DMA_SLURM_PORT (slurmctld port, default 6817; slurmd
# uses the next one), DMA_SLURM_INSTALL=0 to never run apt-get.
#
# The settings that matter, as on any cluster (see slurm.conf(5)):
#   ProctrackType=proctrack/linuxproc, TaskPlugin=task/none, JobAcctGatherType=jobacct_gather/none
#       no cgroups and no accounting daemon needed (so no sacct: read `scontrol show job`)
#   SelectTypeParameters=CR_CPU       jobs share the node by CPU, so two 1-CPU array tasks run side by side
#   DependencyParameters=kill_invalid_depend
#       a job whose dependency can never be met (afterok on a task that failed) is cancelled, not left pending
#   the NodeName line is what `slurmd -C` reports for this machine
set -euo pipefail

dir="${DMA_SLURM_DIR:-/tmp/dma-slurm}"
port="${DMA_SLURM_PORT:-6817}"
conf="$dir/slurm.conf"
sock="$dir/munge/munge.socket.2"

say() { echo "slurm-cluster: $*" >&2; }
reason=""
fail() { reason="$*"; say "$*"; exit 1; }

alive() { # pidfile
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

env_lines() { # started: yes if this call started the daemons, no if they were running already
  echo "export SLURM_CONF=$conf"
  echo "export DMA_SLURM_CLUSTER=up"
  echo "export DMA_SLURM_STARTED=$1"
}

install() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null && return 0
  [ "${DMA_SLURM_INSTALL:-1}" = 0 ] && fail "slurmctld/slurmd/munged/sbatch not found and DMA_SLURM_INSTALL=0"
  [ "$(id -u)" = 0 ] || fail "slurm-wlm and munge are not installed and installing them needs root (apt-get install slurm-wlm munge)"
  command -v apt-get >/dev/null || fail "slurm-wlm and munge are not installed and there is no apt-get here"
  say "installing slurm-wlm and munge (apt-get, --no-install-recommends)"
  export DEBIAN_FRONTEND=noninteractive
  # the lists may already be fresh (CI updates them first); update only when the packages are unknown
  apt-cache show slurm-wlm >/dev/null 2>&1 || apt-get update -q >&2 || fail "apt-get update failed"
  apt-get install -y -q --no-install-recommends slurm-wlm munge >&2 || fail "apt-get install slurm-wlm munge failed"
}

write_config() {
  local node host
  # slurmd -C prints "NodeName=<host> CPUs=… RealMemory=…" and an UpTime line
  node="$(slurmd -C | grep '^NodeName=')" || fail "slurmd -C did not describe this node"
  host="${node%% *}"; host="${host#NodeName=}"
  cat >"$conf.tmp" <<EOF
# one-node cluster written by scripts/slurm-cluster.sh
ClusterName=dma
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
DependencyParameters=kill_invalid_depend
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
$node State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$conf.tmp" "$conf"
}

ready() { # the node is idle or allocated, so jobs can run
  local state
  state="$(SLURM_CONF="$conf" sinfo -h -o %T 2>/dev/null | head -1)" || return 1
  case "$state" in idle*|alloc*|mix*|completing*) return 0;; *) return 1;; esac
}

start() {
  local name i
  install
  mkdir -p "$dir/munge" "$dir/ctld" "$dir/spool"
  chmod 755 "$dir" "$dir/munge"
  if alive "$dir/munged.pid" && alive "$dir/slurmctld.pid" && alive "$dir/slurmd.pid" && ready; then
    say "already running (state in $dir)"
    env_lines no
    return 0
  fi
  started=()
  trap 'cleanup_failed_start' EXIT
  [ -f "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom >"$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"; }
  if ! alive "$dir/munged.pid"; then
    munged --force --socket="$sock" --key-file="$dir/munge/munge.key" --log-file="$dir/munged.log" \
      --pid-file="$dir/munged.pid" --seed-file="$dir/munge/munged.seed" || fail "munged did not start; see $dir/munged.log"
    started+=(munged)
  fi
  munge -n -S "$sock" | unmunge -S "$sock" >/dev/null || fail "munge cannot encode and decode a credential; see $dir/munged.log"
  write_config
  if ! alive "$dir/slurmctld.pid"; then
    slurmctld -f "$conf" || fail "slurmctld did not start; see $dir/slurmctld.log"
    started+=(slurmctld)
  fi
  if ! alive "$dir/slurmd.pid"; then
    slurmd -f "$conf" || fail "slurmd did not start; see $dir/slurmd.log"
    started+=(slurmd)
  fi
  for i in $(seq 1 60); do
    if [ "$i" -gt 4 ]; then # give the daemons 2 s to write their PID files, then fail fast if one has died
      for name in slurmctld slurmd; do
        alive "$dir/$name.pid" || fail "$name exited: $(grep -E 'fatal|error' "$dir/$name.log" | tail -n 1)"
      done
    fi
    if ready; then
      trap - EXIT
      say "up: node $(SLURM_CONF="$conf" sinfo -h -o '%N %c CPUs %T'); state and logs in $dir"
      env_lines yes
      return 0
    fi
    sleep 0.5
  done
  SLURM_CONF="$conf" sinfo >&2 || true
  fail "the node did not become idle within 30 s; see $dir/slurmctld.log and $dir/slurmd.log"
}

# a start that fails stops what it started, so nothing is left running half set up
cleanup_failed_start() {
  local code=$?
  if [ "${#started[@]}" -gt 0 ]; then
    stop "${started[@]}"
    [ -n "$reason" ] && say "$reason" # the reason stays the last line
  fi
  exit "$code"
}

stop() { # [daemon...]: default all three
  local name pid
  local names=("$@")
  [ "${#names[@]}" -gt 0 ] || names=(slurmd slurmctld munged)
  for name in "${names[@]}"; do
    if alive "$dir/$name.pid"; then
      pid="$(cat "$dir/$name.pid")"
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && { say "$name ($pid) still running; sending SIGKILL"; kill -9 "$pid"; }
      say "stopped $name ($pid)"
    fi
    rm -f "$dir/$name.pid"
  done
}

status() {
  local name
  for name in munged slurmctld slurmd; do
    if alive "$dir/$name.pid"; then echo "$name: running (pid $(cat "$dir/$name.pid"))"; else echo "$name: stopped"; fi
  done
  [ -f "$conf" ] && SLURM_CONF="$conf" sinfo 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines no ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
