#!/usr/bin/env bash
# Proves docs/scale-out.md's Slurm job array on a real Slurm: starts a single-node cluster
# (munged, slurmctld and slurmd on this machine, all state in a temporary folder), submits the
# array script exactly as the documentation prints it, waits for it, merges the shards with the
# documented dependent job, and checks that the merged result equals a single unsharded run
# byte for byte.
#
#   scripts/slurm-check.sh [DREAMRIG_BINARY]
#
# Needs Debian's slurmctld, slurmd, slurm-client and munge packages
# (`apt-get install slurmctld slurmd slurm-client munge`). Exit codes: 0 the merged result equals
# the single run; 1 it does not, or a job failed; 77 Slurm is not installed or its daemons do not
# start here (nothing was checked).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
binary="${1:-${CARGO_TARGET_DIR:-$repo/target}/release/dreamrig}"
[ -x "$binary" ] || { echo "slurm-check: no dreamrig binary at $binary (build with cargo build --release)" >&2; exit 1; }
for tool in munged slurmctld slurmd sbatch squeue sacct; do
  command -v "$tool" >/dev/null || { echo "slurm-check: $tool is not installed; skipped (apt-get install slurmctld slurmd slurm-client munge)"; exit 77; }
done

work="$(mktemp -d /tmp/dreamrig-slurm.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/bin" "$work/run"
chmod 700 "$work/munge"

# munge: a fresh key and a private socket.
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/socket" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" \
  || { echo "slurm-check: munged does not start here; skipped"; cat "$work/munge/munged.log" 2>/dev/null || true; exit 77; }
pids+=("$(cat "$work/munge/munged.pid")")

host="$(hostname -s)"
user="$(id -un)"
# A node with more CPUs and memory than this machine has (config_overrides), so the documented
# --cpus-per-task=4 and --mem=4G fit; tasks then share the real cores.
cat >"$work/slurm.conf" <<EOF
ClusterName=dreamrig-check
SlurmctldHost=$host(127.0.0.1)
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SlurmctldPort=16817
SlurmdPort=16818
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd.pid
SlurmdSpoolDir=$work/spool
StateSaveLocation=$work/state
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
MaxArraySize=1001
NodeName=$host NodeAddr=127.0.0.1 CPUs=8 RealMemory=16000 State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)

# Wait (with a deadline) until the node is idle.
deadline=$((SECONDS + 60))
until sinfo -h -o '%T' 2>/dev/null | grep -qx idle; do
  if [ $SECONDS -gt $deadline ]; then
    echo "slurm-check: the cluster did not come up within 60 s; skipped"
    tail -n 20 "$work"/slurmctld.log "$work"/slurmd.log 2>/dev/null || true
    exit 77
  fi
  sleep 1
done
echo "slurm-check: single-node cluster up ($(sinfo -h -o '%N %c CPUs %T'))"

# The documentation's array script, exactly as printed, and a checkout-like folder to run it in.
docs="$repo/docs/scale-out.md"
awk '/^## Slurm job array/{f=1} f&&/^```bash$/{p=1;next} p&&/^```$/{exit} p' "$docs" >"$work/run/eval-array.sh"
grep -q '^#SBATCH --array=' "$work/run/eval-array.sh" || { echo "slurm-check: no array script found in $docs" >&2; exit 1; }
ln -s "$repo/evals" "$work/run/evals"
ln -s "$repo/scenarios" "$work/run/scenarios"
ln -s "$binary" "$work/bin/dreamrig"
mkdir -p "$work/run/logs"
export PATH="$work/bin:$PATH"
cd "$work/run"

# Submitted as the documentation says: the array, then the merge as a dependent job.
jobid=$(sbatch --parsable eval-array.sh)
merge=$(sbatch --parsable --dependency=afterok:$jobid --output=logs/merge-%j.out --wrap \
  'dreamrig merge evals/quickstart.yaml results/quickstart/shard-* --out results/quickstart/all')
echo "slurm-check: submitted array job $jobid and merge job $merge"

deadline=$((SECONDS + 1800))
while squeue -h -j "$jobid,$merge" 2>/dev/null | grep -q .; do
  if [ $SECONDS -gt $deadline ]; then
    echo "slurm-check: jobs still queued or running after 30 min" >&2
    squeue
    exit 1
  fi
  sleep 2
done
failed=0
for log in logs/*; do
  if grep -q '^error' "$log"; then echo "== $log"; cat "$log"; failed=1; fi
done
[ -f results/quickstart/all/episodes.parquet ] || { echo "slurm-check: the merge wrote no results" >&2; ls -R results logs >&2; for log in logs/*; do echo "== $log"; cat "$log"; done; exit 1; }
echo "slurm-check: $(ls -d results/quickstart/shard-* | wc -l) shards ran; merged"

dreamrig eval evals/quickstart.yaml --out results/single >/dev/null
for file in episodes.parquet episodes.csv summary.parquet summary.csv summary.json report.md report.html; do
  if cmp -s "results/single/$file" "results/quickstart/all/$file"; then
    echo "slurm-check: $file identical"
  else
    echo "slurm-check: $file differs between the merged Slurm run and a single run" >&2
    failed=1
  fi
done
exit $failed
