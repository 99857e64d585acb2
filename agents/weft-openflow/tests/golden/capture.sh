#!/bin/sh
# Regenerates the golden fixtures in this directory from a real Open vSwitch
# (ovs-ofctl and ovs-vswitchd 3.1 were used; see README.md). Run as root from
# the repository root:
#
#   cargo build -p weft-openflow --example ofp_capture
#   sh agents/weft-openflow/tests/golden/capture.sh [path/to/ofp_capture]
#
# Everything runs in a private temporary directory; the private daemons are
# stopped by the pids they wrote, never by name.
set -eu
OUT=$(cd "$(dirname "$0")" && pwd)
CAP=${1:-${CARGO_TARGET_DIR:-target}/debug/examples/ofp_capture}
D=$(mktemp -d /tmp/weft-golden.XXXXXX)
cleanup() {
    for f in "$D"/ovs-vswitchd.pid "$D"/ovsdb-server.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    sleep 0.5
    rm -rf "$D"
}
trap cleanup EXIT

# The flows, as ovs-ofctl writes them: the lowering (docs/pipeline.md) of
# rack1-leaf in topologies/two-racks.yaml with VNI 10 (0xa) on port 1
# (access) and port 2 (tagged 100), and rack2-leaf's VTEP 10.0.0.12.
ACCESS='table=0,priority=1000,cookie=0x574546540000000a,in_port=1,vlan_tci=0x0000/0x1fff,actions=write_metadata:0xa,goto_table:1'
TAGGED='table=0,priority=1000,cookie=0x574546540000000a,in_port=2,dl_vlan=100,actions=pop_vlan,write_metadata:0xa,goto_table:1'
TUNNEL='table=0,priority=1000,cookie=0x574546540000000a,in_port=65000,tun_id=0xa,tun_src=10.0.0.12,actions=write_metadata:0xa,goto_table:1'
INNER1='table=0,priority=1100,cookie=0x574546540000000a,in_port=2,dl_vlan=100,dl_type=0x8100,actions=drop'
INNER2='table=0,priority=1100,cookie=0x574546540000000a,in_port=2,dl_vlan=100,dl_type=0x88a8,actions=drop'
DROP0='table=0,priority=0,cookie=0x5745465400000000,actions=drop'
GUARD='table=1,priority=1000,cookie=0x5745465400000000,vlan_tci=0x1000/0x1000,actions=drop'
GOTO2='table=1,priority=0,cookie=0x5745465400000000,actions=goto_table:2'
DROP2='table=2,priority=0,cookie=0x5745465400000000,actions=drop'
FLOOD='table=2,priority=1000,cookie=0x574546540000000a,metadata=0xa,actions=output:1,push_vlan:0x8100,set_field:4196->vlan_vid,output:2,pop_vlan,set_field:0xa->tun_id,set_field:10.0.0.12->tun_dst,output:65000'
SPLIT='table=2,priority=2000,cookie=0x574546540000000a,in_port=65000,metadata=0xa,actions=output:1,push_vlan:0x8100,set_field:4196->vlan_vid,output:2,pop_vlan'
# Flows someone else installed (cookie 0): fields and actions Weft does not model.
FOREIGN1='table=0,priority=5,ip,nw_src=10.1.2.3,actions=NORMAL'
FOREIGN2='table=3,priority=7,ip,in_port=3,actions=dec_ttl,mod_dl_src:02:00:00:00:00:01,output:1'

# 1. What ovs-ofctl sends (ofp_capture plays the switch).
cap() {
    name=$1
    shift
    rm -f "$D/sw.sock"
    "$CAP" listen "$D/sw.sock" "$OUT/$name.hex" >/dev/null &
    pid=$!
    i=0
    while [ ! -S "$D/sw.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    ovs-ofctl -O OpenFlow13 --no-names "$@"
    wait $pid
}
cap ofctl-add-access add-flow "unix:$D/sw.sock" "$ACCESS"
cap ofctl-add-tagged add-flow "unix:$D/sw.sock" "$TAGGED"
cap ofctl-add-tunnel add-flow "unix:$D/sw.sock" "$TUNNEL"
cap ofctl-add-inner-guard add-flow "unix:$D/sw.sock" "$INNER1"
cap ofctl-add-guard add-flow "unix:$D/sw.sock" "$GUARD"
cap ofctl-add-goto add-flow "unix:$D/sw.sock" "$GOTO2"
cap ofctl-add-flood add-flow "unix:$D/sw.sock" "$FLOOD"
cap ofctl-del-strict --strict del-flows "unix:$D/sw.sock" \
    'table=0,priority=1000,cookie=0x574546540000000a/-1,in_port=1,vlan_tci=0x0000/0x1fff'
cap ofctl-del-cookie del-flows "unix:$D/sw.sock" 'cookie=0x5745465400000000/0xffffffff00000000'
cap ofctl-bundle-add --bundle add-flow "unix:$D/sw.sock" "$ACCESS"

# 2. What a real ovs-vswitchd answers.
export OVS_RUNDIR="$D" OVS_LOGDIR="$D" OVS_DBDIR="$D" OVS_SYSCONFDIR="$D"
ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" --pidfile="$D/ovsdb-server.pid" \
    --unixctl="$D/ovsdb-server.ctl" --log-file="$D/ovsdb-server.log" --detach --no-chdir
VSCTL="ovs-vsctl --db=unix:$D/db.sock --timeout=10"
$VSCTL --no-wait init
ovs-vswitchd "unix:$D/db.sock" --pidfile="$D/ovs-vswitchd.pid" --unixctl="$D/ovs-vswitchd.ctl" \
    --log-file="$D/ovs-vswitchd.log" --detach --no-chdir --enable-dummy=override --disable-system
$VSCTL add-br br0 -- set bridge br0 datapath_type=dummy fail_mode=secure \
    protocols=OpenFlow10,OpenFlow13,OpenFlow14 \
    -- add-port br0 p1 -- set interface p1 ofport_request=1 \
    -- add-port br0 p2 -- set interface p2 ofport_request=2 \
    -- add-port br0 p3 -- set interface p3 ofport_request=3 \
    -- add-port br0 vx -- set interface vx ofport_request=65000 type=vxlan \
       options:remote_ip=flow options:key=flow
i=0
while [ ! -S "$D/br0.mgmt" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
OF="ovs-ofctl -O OpenFlow13"
$OF del-flows "unix:$D/br0.mgmt"
for f in "$ACCESS" "$TAGGED" "$INNER1" "$INNER2" "$TUNNEL" "$DROP0" "$GUARD" "$GOTO2" "$DROP2" "$FLOOD" "$SPLIT" \
    "$FOREIGN1" "$FOREIGN2"; do
    $OF add-flow "unix:$D/br0.mgmt" "$f"
done
"$CAP" dump "$D/br0.mgmt" "$OUT/ovs"
