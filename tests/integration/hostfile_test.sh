#!/usr/bin/env bash
# `lorafleet up --hostfile F` with the coordinator's worker endpoint on every interface: mpirun
# starts the ranks on the hostfile's hosts (here only this one) and they connect to this host by
# its name, not to 0.0.0.0; a trial runs on them.
# usage: hostfile_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" hostfile

echo "localhost slots=2" >"$tmp/hosts"
json=$(timeout 120 "$bin/lorafleet" up --home "$home" --json --workers 2 --hostfile "$tmp/hosts" \
  --http 127.0.0.1:0 --worker-endpoint tcp://0.0.0.0:0 2>"$tmp/up.err")
rc=$?
lf_track_session "$(cat "$home/coordinator.pid" 2>/dev/null)"
lf_track_session "$(cat "$home/workers.pid" 2>/dev/null)"
((rc == 0)) || fail "lorafleet up --hostfile: exit code $rc: $(cat "$tmp/up.err") $json"
endpoint=$(jget 'j["workers_endpoint"]' <<<"$json")
[[ $endpoint =~ ^tcp://$(hostname):[1-9][0-9]*$ ]] ||
  fail "the ranks were given $endpoint; want tcp://$(hostname):PORT"
ok "the ranks connect to $endpoint"
expect_eq "$(jget 'j["workers_connected"]' <<<"$json")" 2 "workers connected"
grep -q -- "--hostfile $tmp/hosts" <<<"$(tr '\0' ' ' <"/proc/$(jget 'j["mpirun_pid"]' <<<"$json")/cmdline")" ||
  fail "mpirun was not given the hostfile"
ok "mpirun runs the hostfile's hosts"

sweep_file "$tmp/sweep.yaml" it-hostfile 10 0 '  lora.r: [2]'
run_ok "submit --wait" timeout 120 "$bin/lorafleet" submit "$tmp/sweep.yaml" --wait --json --home "$home"
expect_eq "$(jget 'j["sweep"]["state"]' <<<"$out")" finished "the sweep on the hostfile's ranks"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
