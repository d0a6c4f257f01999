#!/usr/bin/env bash
# A worker that cannot read a file the coordinator found at submission (on a cluster: a host that
# does not share the filesystem; here: the file deleted after submitting) fails that trial's
# attempts with a reason naming the path, the worker and its host, retried up to max_retries;
# the sweep's other trial completes and the sweep finishes.
# usage: unshared_path_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" unshared_path

fleet_up --workers 1

mkdir -p "$tmp/data"
cp examples/data/medical/train.jsonl "$tmp/data/kept.jsonl"
cp examples/data/medical/train.jsonl "$tmp/data/gone.jsonl"
# One worker: the second trial waits behind the first, so its file is gone when it starts.
sweep_file "$tmp/sweep.yaml" it-unshared 60 0 "  data.train: [$tmp/data/kept.jsonl, $tmp/data/gone.jsonl]" \
  'max_retries: 1'
run_ok "submit" lf submit "$tmp/sweep.yaml" --json
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
gone_trial=$(jget 'j["trials"][1]["id"]' <<<"$out")
rm "$tmp/data/gone.jsonl"

wait_until 120 "the sweep finished" sweeps_reach finished "$sweep"
run_ok "status SWEEP --json" lf status "$sweep" --json
expect_eq "$(jget '[t["state"] for t in j["trials"]]' <<<"$out")" '["completed", "failed"]' \
  "the trial with the readable file completed, the other failed"
run_ok "status $gone_trial --json" lf status "$gone_trial" --json
expect_eq "$(jget 'j["trial"]["failures"]' <<<"$out")" 2 "attempts of the unreadable trial (one retry)"
reason=$(jget 'j["trial"]["last_error"]' <<<"$out")
for part in "$tmp/data/gone.jsonl" "on host $(hostname)" "filesystem they share"; do
  grep -qF "$part" <<<"$reason" || fail "the failure reason does not say '$part': $reason"
done
ok "the reason names the path, the host and the shared filesystem: $reason"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
