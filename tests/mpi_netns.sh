#!/bin/sh
# Two "machines" on this one: network namespaces A and B joined by a veth pair, one rank in each,
# Open MPI over TCP on the veth only (btl tcp, oob tcp), rank 1 launched in B through an rsh
# agent that enters the namespace (and a UTS namespace, so the two have different host names).
# Rank 1 reads its own copy of the store, as a compute node without the shared disk would.
# Called by tests/e2e_mpi.sh; prints PASS/FAIL/SKIP lines; the namespaces are always removed.
# usage: mpi_netns.sh PHENOSCOPE_BIN WORKDIR
set -u
P=$1
dir=$2
name=mpi_two_namespaces_tcp
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP $name: creating network namespaces needs root"
    exit 0
fi
for c in ip unshare hostname; do
    command -v $c >/dev/null 2>&1 || { echo "SKIP $name: no '$c' command"; exit 0; }
done
A=psmpiA$$
B=psmpiB$$
VA=psva$$
VB=psvb$$
cleanup() {
    ip netns del "$A" 2>/dev/null
    ip netns del "$B" 2>/dev/null
    ip link del "$VA" 2>/dev/null
    return 0
}
trap cleanup EXIT INT TERM
if ! ip netns add "$A" 2>"$dir/ns.err" || ! ip netns add "$B" 2>>"$dir/ns.err"; then
    echo "SKIP $name: cannot create network namespaces here ($(head -1 "$dir/ns.err"))"
    exit 0
fi
if ! ip link add "$VA" type veth peer name "$VB" 2>"$dir/ns.err" ||
   ! ip link set "$VA" netns "$A" || ! ip link set "$VB" netns "$B" ||
   ! ip -n "$A" addr add 10.213.7.1/24 dev "$VA" || ! ip -n "$B" addr add 10.213.7.2/24 dev "$VB" ||
   ! ip -n "$A" link set "$VA" up || ! ip -n "$B" link set "$VB" up ||
   ! ip -n "$A" link set lo up || ! ip -n "$B" link set lo up; then
    echo "SKIP $name: cannot create a veth pair here ($(head -1 "$dir/ns.err"))"
    exit 0
fi
# The rsh agent: Open MPI calls it as `agent HOST COMMAND...` to start its daemon on HOST.
cat > "$dir/rsh.sh" <<EOF
#!/bin/sh
host=\$1; shift
case "\$host" in
    10.213.7.1) ns=$A; hn=psnodea ;;
    10.213.7.2) ns=$B; hn=psnodeb ;;
    *) echo "rsh.sh: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$hn; \$*"
EOF
chmod +x "$dir/rsh.sh"
cp "$dir/base.db" "$dir/n0.db"
cp "$dir/base.db" "$dir/n1.db" # rank 1's local copy of the data
cp "$dir/base.db" "$dir/nref.db"
O="--method ehr --quick --epochs 1 --max-iters 4 --batch 12 --threads 1"
"$P" --store "$dir/nref.db" train $O > "$dir/nref.log" 2>&1 || { cat "$dir/nref.log"; echo "FAIL $name: reference run"; exit 1; }
# mpirun itself in A (with its own host name); rank 0 local to it, rank 1 in B via the agent.
# Two hosts: --overlap's default (auto) sums the gradients on the communication thread, in
# 16 KB buckets here so the small model's gradient travels in several
export PHENOSCOPE_BUCKET_KB=16
timeout 120 ip netns exec "$A" unshare --uts sh -c "hostname psnodea; exec mpirun \
    --mca plm_rsh_agent $dir/rsh.sh --mca btl tcp,self \
    --mca btl_tcp_if_include 10.213.7.0/24 --mca oob_tcp_if_include 10.213.7.0/24 \
    --mca plm_rsh_no_tree_spawn 1 -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
    -x LSAN_OPTIONS -x ASAN_OPTIONS -x PHENOSCOPE_BUCKET_KB \
    -np 1 --host 10.213.7.1:1 $P --store $dir/n0.db train $O : \
    -np 1 --host 10.213.7.2:1 $P --store $dir/n1.db train $O" > "$dir/netns.log" 2>&1
rc=$?
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
here=$(cd "$(dirname "$0")" && pwd)
if [ $rc -eq 0 ] && grep -q "2 ranks on 2 hosts.*all-reduce overlapped with backward" "$dir/netns.log" &&
   "$PY" "$here/mpi_compare.py" "$dir/nref.db" 1 "$dir/n0.db" 1 1e-5 &&
   [ "$(sqlite3 "$dir/n1.db" 'SELECT count(*) FROM runs')" = 0 ]; then
    echo "PASS $name"
else
    cat "$dir/netns.log"
    echo "FAIL $name: mpirun exit $rc"
    exit 1
fi
exit 0
