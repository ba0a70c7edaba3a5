#!/bin/sh
# Slurm's srun launching phenoscope's data-parallel training (engine/dist.c, README "Scale out"),
# on a private one-node Slurm cluster this script starts in a temp dir: its own slurm.conf (the
# node named after this host, 2 CPUs, free ports, state, spool, pid and log files in the temp
# dir, AuthType=auth/none so no munge daemon), slurmctld and slurmd in the foreground of this
# script, no systemd and nothing under /etc. Checks:
#  - `srun --mpi=pmix -n 2 phenoscope train` (tasks joined by Open MPI through Slurm's PMIx
#    server) trains the same EHR weights as 1 rank, and says "2 ranks", 1 core each by default;
#  - `srun --mpi=none -n 2` (and pmi2: Debian's Open MPI has no PMI-2 client) is refused with
#    dist.c's one-line message before MPI_Init, non-zero exit, no run in the store;
#  - inside an `sbatch -n 2` allocation, a plain `phenoscope train` and `mpirun -np 1 ...` are
#    ordinary runs, not refused as a bad srun launch (SLURM_NTASKS is the allocation's size);
#  - one rank SIGKILLed under srun ends the step within 10 s, the store is intact and the run
#    resumes on 1 rank to the weights of an uninterrupted run.
# Every daemon started here is stopped on exit (trap), whatever happens.
# SKIPs with a reason when Slurm or its PMIx plugin is not installed, when not root (slurmd
# starts tasks as their user), when the binary has no MPI, or when slurmd cannot start here.
set -u
P=${PHENOSCOPE_BIN:-./phenoscope}
H=${PHENOSCOPE_HOOKS_BIN:-./build/phenoscope-hooks}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
here=$(cd "$(dirname "$0")" && pwd)
case "$P" in /*) ;; *) P=$(pwd)/$P ;; esac
case "$H" in /*) ;; *) H=$(pwd)/$H ;; esac
fail=0
pass() { echo "PASS $1"; }
bad() { echo "FAIL $1: $2"; fail=1; }

for c in slurmctld slurmd srun sbatch sinfo squeue scancel; do
    if ! command -v $c >/dev/null 2>&1; then
        echo "SKIP srun: $c is not installed (apt-get install slurmd slurmctld slurm-client; make deps)"
        exit 0
    fi
done
if ! ldd "$P" 2>/dev/null | grep -q libmpi; then
    echo "SKIP srun: $P was built without MPI (make MPI=0, or mpicc missing at build time)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP srun: slurmd must run as root to start job steps (running as uid $(id -u))"
    exit 0
fi

# this script may itself run inside a Slurm job or an MPI job: its variables would send srun
# to that cluster's controller, or make phenoscope think it is a rank
for v in $(env | sed -n 's/^\(\(SLURM\|PMIX\|PMI\|OMPI_COMM_WORLD\)_[A-Za-z0-9_]*\)=.*/\1/p'); do
    unset "$v"
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_base_warn_component_unused=0
# sanitizer builds: Open MPI's own allocations at exit are not phenoscope's leaks (e2e_mpi.sh)
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$here/lsan_mpi.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

dir=$(mktemp -d)
ctld=""; slurmd_pid=""
cleanup() {
    if [ -n "$ctld" ]; then
        # cancel what is left (an interrupted srun) while slurmd can still end its steps
        jobs=$(squeue -h -o %i 2>/dev/null)
        [ -n "$jobs" ] && scancel $jobs 2>/dev/null
        i=0
        while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $i -lt 50 ]; do
            sleep 0.2; i=$((i + 1))
        done
    fi
    for p in $slurmd_pid $ctld; do kill "$p" 2>/dev/null; done
    for p in $slurmd_pid $ctld; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    ctld=""; slurmd_pid=""
    if [ -n "${PS_KEEP:-}" ]; then echo "keeping $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- a private cluster ------------------------------------------------------------------------
node=$(uname -n | cut -d. -f1)
ports=$("$PY" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))') || { bad srun_cluster "no free ports"; exit 1; }
set -- $ports
mkdir -p "$dir/state" "$dir/spool"
cat > "$dir/slurm.conf" <<EOF
ClusterName=pstest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$1
SlurmdPort=$2
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
MailProg=/bin/true
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=ps Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$dir/slurm.conf"
# (srun reads the configuration even to list its plugins)
if ! srun --mpi=list 2>&1 | grep -q pmix; then
    echo "SKIP srun: this Slurm has no mpi/pmix plugin ('srun --mpi=list')"
    exit 0
fi
slurmctld -D -f "$SLURM_CONF" > "$dir/slurmctld.out" 2>&1 &
ctld=$!
slurmd -D -f "$SLURM_CONF" -N "$node" > "$dir/slurmd.out" 2>&1 &
slurmd_pid=$!
i=0; st=""
while [ $i -lt 100 ]; do
    st=$(sinfo -h -n "$node" -o %t 2>/dev/null)
    [ "$st" = idle ] && break
    kill -0 "$ctld" 2>/dev/null && kill -0 "$slurmd_pid" 2>/dev/null || break
    sleep 0.2; i=$((i + 1))
done
if [ "$st" != idle ]; then
    why=$(cat "$dir/slurmd.out" "$dir/slurmctld.out" 2>/dev/null | grep -i "error\|fatal" | tail -1)
    echo "SKIP srun: the private Slurm node did not become idle (state '$st'): ${why:-no error logged}"
    exit 0
fi

"$P" --store "$dir/base.db" demo --stays 120 --threads 2 > "$dir/demo.log" 2>&1 ||
    { cat "$dir/demo.log"; bad srun_demo "demo store"; exit 1; }
fresh() { cp "$dir/base.db" "$dir/$1.db"; }
cmp_runs() { "$PY" "$here/mpi_compare.py" "$dir/$1.db" "$2" "$dir/$3.db" "$4" "$5"; }
nruns() { sqlite3 "$dir/$1.db" "SELECT count(*) FROM runs"; }

# ---- srun --mpi=pmix -n 2 equals 1 rank ----------------------------------------------------------
EHR0="--method ehr --quick --epochs 2 --max-iters 4 --batch 15"
EHR="$EHR0 --threads 1"
fresh e1; fresh e2
# the srun ranks are not given --threads: 2 ranks on this 2-CPU node must take 1 core each
if "$P" --store "$dir/e1.db" train $EHR > "$dir/e1.log" 2>&1 &&
   timeout 120 srun --mpi=pmix -n 2 "$P" --store "$dir/e2.db" train $EHR0 > "$dir/e2.log" 2>&1; then
    ncpu=$(nproc)
    if grep -q "2 ranks on 1 host, global batch 15 (7-8 per rank), $((ncpu / 2 > 0 ? ncpu / 2 : 1)) thread" \
           "$dir/e2.log" && cmp_runs e1 1 e2 1 1e-5; then
        pass srun_pmix_2ranks_equal_1rank
    else
        cat "$dir/e2.log"; bad srun_pmix_2ranks_equal_1rank "not 2 ranks, or weights differ"
    fi
else
    cat "$dir/e1.log" "$dir/e2.log" "$dir/slurmd.log"; bad srun_pmix_2ranks_equal_1rank "a run failed"
fi

# ---- tasks MPI does not join: refused before anything is stored --------------------------------
for m in none pmi2; do
    fresh n$m
    before=$(nruns n$m)
    timeout 60 srun --mpi=$m -n 2 "$P" --store "$dir/n$m.db" train $EHR > "$dir/n$m.log" 2>&1
    rc=$?
    after=$(nruns n$m)
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
       grep -q "^phenoscope train: srun started 2 tasks without PMIx.*srun --mpi=pmix" "$dir/n$m.log" &&
       ! grep -q "MPI_Init" "$dir/n$m.log" && [ "$before" = "$after" ]; then
        pass "srun_mpi_${m}_refused (srun exit $rc, runs $before -> $after)"
    else
        cat "$dir/n$m.log"; bad "srun_mpi_${m}_refused" "srun exit $rc, runs $before -> $after"
    fi
done

# ---- one rank inside an allocation of 2 tasks is an ordinary run --------------------------------
fresh b1; fresh b2
cat > "$dir/job.sh" <<EOF
#!/bin/sh
"$P" --store "$dir/b1.db" train --method ehr --quick --epochs 1 --max-iters 2 --batch 8 --threads 1
echo "plain rc=\$?"
mpirun --oversubscribe --bind-to none -np 1 "$P" --store "$dir/b2.db" train --method ehr --quick \
    --epochs 1 --max-iters 2 --batch 8 --threads 1
echo "mpirun rc=\$?"
EOF
chmod +x "$dir/job.sh"
if timeout 120 sbatch -n 2 --wait -o "$dir/job.out" "$dir/job.sh" > "$dir/sbatch.log" 2>&1 &&
   grep -q "^plain rc=0" "$dir/job.out" && grep -q "^mpirun rc=0" "$dir/job.out" &&
   [ "$(nruns b1)" = 1 ] && [ "$(nruns b2)" = 1 ] && grep -q "1 ranks" "$dir/job.out"; then
    pass srun_sbatch_alone_not_refused
else
    cat "$dir/sbatch.log" "$dir/job.out" 2>/dev/null; bad srun_sbatch_alone_not_refused "a run failed or was refused"
fi

# ---- SIGKILL of one rank under srun ------------------------------------------------------------
if [ -x "$H" ] && ldd "$H" 2>/dev/null | grep -q libmpi; then
    KIL="--method ehr --quick --epochs 4 --max-iters 6 --batch 8 --threads 1"
    fresh k1; fresh k2
    "$P" --store "$dir/k1.db" train $KIL > "$dir/k1.log" 2>&1 || { cat "$dir/k1.log"; bad srun_kill "reference run"; }
    # 150 ms per iteration: the kill lands in the second epoch or later, never after the end
    PHENOSCOPE_TEST_ITER_MS=150 timeout 120 srun --mpi=pmix -n 2 "$H" \
        --store "$dir/k2.db" train $KIL > "$dir/k2.log" 2>&1 &
    sp=$!
    i=0
    while [ $i -lt 600 ]; do
        n=$(sqlite3 "$dir/k2.db" "SELECT count(*) FROM checkpoints WHERE kind = 'last'" 2>/dev/null)
        [ "${n:-0}" -ge 1 ] && break
        sleep 0.1; i=$((i + 1))
    done
    r0=$(sqlite3 "$dir/k2.db" "SELECT pid FROM run_progress WHERE run_id = 1" 2>/dev/null)
    # the ranks are children of the step's slurmstepd: kill the one that is not rank 0
    victim=""
    stepd=$(ps -o ppid= -p "${r0:-0}" 2>/dev/null | tr -d ' ')
    [ -n "$stepd" ] && victim=$(ps -o pid= --ppid "$stepd" | tr -d ' ' | grep -vx "$r0" | head -1)
    if [ -z "$victim" ]; then
        cat "$dir/k2.log"; bad srun_kill_one_rank_ends_step "no rank to kill (rank 0 pid '$r0')"
        kill "$sp" 2>/dev/null; wait "$sp"
    else
        t0=$(date +%s.%N)
        kill -KILL "$victim"
        wait "$sp"; rc=$?
        i=0
        while kill -0 "$r0" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
        dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        if [ $rc -ne 0 ] && [ $rc -ne 124 ] && ! kill -0 "$r0" 2>/dev/null &&
           awk -v d="$dt" 'BEGIN { exit !(d <= 10) }'; then
            pass "srun_kill_one_rank_ends_step (${dt} s, srun exit $rc)"
        else
            cat "$dir/k2.log"; bad srun_kill_one_rank_ends_step "srun exit $rc after ${dt} s"
        fi
        # SQLite 3.40 wrongly reports NULLs in diagnoses.subject_id (see e2e_killpoints.sh)
        ic=$(sqlite3 "$dir/k2.db" "PRAGMA integrity_check" 2>&1 |
             grep -v '^NULL value in diagnoses.subject_id$')
        [ -z "$ic" ] && ic=ok
        ep=$(sqlite3 "$dir/k2.db" "SELECT epoch FROM checkpoints WHERE run_id = 1 AND kind = 'last'")
        if [ "$ic" = ok ] && [ "${ep:-0}" -ge 1 ] && [ "${ep:-0}" -lt 4 ] &&
           "$P" --store "$dir/k2.db" train --resume 1 --threads 1 > "$dir/k3.log" 2>&1 &&
           cmp_runs k1 1 k2 1 1e-4; then
            pass "srun_kill_store_resumes (checkpoint of epoch $ep, resumed on 1 rank)"
        else
            cat "$dir/k3.log" 2>/dev/null
            bad srun_kill_store_resumes "integrity '$ic', last checkpoint epoch '$ep', or resume differs"
        fi
    fi
else
    echo "SKIP srun_kill_one_rank_ends_step: no MPI hooks binary ($H; make hooks)"
fi

exit $fail
