#!/usr/bin/env bash
# Starts a single-node Slurm on this Debian host for the Slurm backend's tests: munge, slurmctld
# and slurmd, with accounting (MariaDB and slurmdbd) so that `sacct` answers. Needs root; installs
# the Debian packages it lacks. About 10 s, 15 s more the first time (apt).
#
#   Scripts/slurm-up.sh            then   Scripts/slurm-down.sh
#
# Environment: SLURM_BASE (state, logs, pid files; default /tmp/swift-drmaa-slurm), SLURM_CPUS
# (CPUs the node advertises; default 16, more than a small CI machine has, so that tests can run
# jobs side by side), SLURM_MINJOBAGE (seconds the controller keeps an ended job; default 300),
# SLURM_ACCOUNTING=0 (no sacct).
set -euo pipefail
base=${SLURM_BASE:-/tmp/swift-drmaa-slurm}
host=$(hostname -s)
say() { printf '[slurm-up %s] %s\n' "$(date +%T)" "$*"; }
[ "$(id -u)" = 0 ] || { echo "Scripts/slurm-up.sh needs root (it starts system daemons)" >&2; exit 2; }

if sinfo -h -o %T >/dev/null 2>&1; then say "a Slurm controller answers already"; exit 0; fi

accounting=${SLURM_ACCOUNTING:-1}
packages=(slurmctld slurmd slurm-client munge)
[ "$accounting" = 1 ] && packages+=(slurmdbd mariadb-server)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The node's name must resolve.
getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts

# munge: one key, one daemon.
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge && chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge && chmod 755 /run/munge
munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 || runuser -u munge -- /usr/sbin/munged
munge -n | unmunge >/dev/null
say "munged runs"

mkdir -p "$base"/{state,spool,log,run}
read -r memory < <(slurmd -C | head -1 | sed -E 's/.*RealMemory=([0-9]+).*/\1/')
cpus=${SLURM_CPUS:-16}
cat > /etc/slurm/slurm.conf <<CONF
# Written by swift-drmaa's Scripts/slurm-up.sh: one node, for tests.
ClusterName=drmaa-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Start batch jobs at once (the default waits up to 3 s after a submission).
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MinJobAge=${SLURM_MINJOBAGE:-300}
MaxJobCount=100000
MaxArraySize=100001
KillWait=5
OverTimeLimit=0
StateSaveLocation=$base/state
SlurmdSpoolDir=$base/spool
SlurmctldPidFile=$base/run/slurmctld.pid
SlurmdPidFile=$base/run/slurmd.pid
SlurmctldLogFile=$base/log/slurmctld.log
SlurmdLogFile=$base/log/slurmd.log
# The node may advertise more CPUs than it has.
SlurmdParameters=config_overrides
NodeName=$host CPUs=$cpus RealMemory=$(( memory * 9 / 10 )) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

if [ "$accounting" = 1 ]; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if ! mariadb -e 'select 1' >/dev/null 2>&1; then
    setsid /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
      --pid-file=/run/mysqld/mysqld.pid --skip-networking --log-error="$base/log/mariadb.err" </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 150); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  # ALTER too: a user made before (by another recipe) may have another password.
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'drmaa-test';
              ALTER USER 'slurm'@'localhost' IDENTIFIED BY 'drmaa-test';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  say "mariadb runs"
  cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=$base/log/slurmdbd.log
PidFile=$base/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=drmaa-test
StorageLoc=slurm_acct_db
CONF
  chmod 600 /etc/slurm/slurmdbd.conf  # slurmdbd refuses a file others can read
  sed -i 's#^AccountingStorageType=.*#AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost#;
          s#^JobAcctGatherType=.*#JobAcctGatherType=jobacct_gather/linux#' /etc/slurm/slurm.conf
  : > "$base/log/slurmdbd.log"  # a log of an earlier run must not say "started"
  /usr/sbin/slurmdbd
  up=
  for _ in $(seq 1 300); do
    grep -q started "$base/log/slurmdbd.log" 2>/dev/null && { up=1; break; }
    sleep 0.1
  done
  [ -n "$up" ] || { say "slurmdbd did not start"; tail -5 "$base/log/slurmdbd.log"; exit 1; }
  say "slurmdbd runs"
fi

/usr/sbin/slurmctld -i
/usr/sbin/slurmd
state=
for _ in $(seq 1 150); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  case "$state" in idle|mixed|allocated) break ;; esac
  sleep 0.2
done
case "$state" in
  idle|mixed|allocated) say "node $host is $state ($cpus CPUs)" ;;
  *) say "the node did not come up (state '${state:-none}')"; tail -20 "$base"/log/*.log; exit 1 ;;
esac
