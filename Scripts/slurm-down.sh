#!/usr/bin/env bash
# Stops what Scripts/slurm-up.sh started, by pid: jobs first (shutting the controller down alone
# leaves running jobs behind), then slurmctld and slurmd, slurmdbd and MariaDB, munged.
base=${SLURM_BASE:-/tmp/swift-drmaa-slurm}
say() { printf '[slurm-down %s] %s\n' "$(date +%T)" "$*"; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
stop() {  # pid file, name
  local pid; pid=$(cat "$1" 2>/dev/null)
  alive "$pid" || return 0
  kill "$pid"
  for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.1; done
  alive "$pid" && kill -9 "$pid"
  say "$2 stopped"
}
controller=$(cat "$base/run/slurmctld.pid" 2>/dev/null)
if alive "$controller"; then
  squeue -h -o %A | sort -u | xargs -r scancel
  for _ in $(seq 1 100); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.2; done
  scontrol shutdown >/dev/null 2>&1 || true
fi
stop "$base/run/slurmctld.pid" slurmctld
stop "$base/run/slurmd.pid" slurmd
stop "$base/run/slurmdbd.pid" slurmdbd
stop /run/mysqld/mysqld.pid mariadb
stop /run/munge/munged.pid munged
