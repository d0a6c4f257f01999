#!/usr/bin/env bash
# Requests without the access token, and bad sweep documents POSTed to a real coordinator: every file of the unit tests' corpus
# (tests/unit/jobs/testdata/bad_sweeps/*.yaml, each opening with `# expect: <message part>`), a
# base model folder and a training data file that do not exist. Each must get HTTP 400 with
# {"error": {"status": 400, "message": "... <expected part> ...", "field": "<its path>"}}, and
# none may leave anything behind in the store.
# usage: bad_sweeps_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" bad_sweeps

fleet_up --workers 0

corpus=$repo/tests/unit/jobs/testdata/bad_sweeps
cases=("$corpus"/*.yaml)
((${#cases[@]} >= 20)) || fail "only ${#cases[@]} files in $corpus"

# Two documents that are valid on paper but name files that do not exist. `expect` lines as in the
# corpus, plus `# field:` for the exact field path the error must carry.
mkdir -p "$tmp/extra"
cat >"$tmp/extra/missing_model_folder.yaml" <<EOF
# expect: sweep.base.base_model:
# field: sweep.base.base_model
name: no-model
base:
  base_model: examples/models/no-such-model
  data: {train: examples/data/medical/train.jsonl}
  train: {steps: 10}
EOF
cat >"$tmp/extra/missing_train_file.yaml" <<EOF
# expect: sweep.base.data.train:
# field: sweep.base.data.train
name: no-data
base:
  base_model: examples/models/tiny-gpt2
  data: {train: examples/data/medical/no-such-file.jsonl}
  train: {steps: 10}
EOF
cases+=("$tmp/extra"/*.yaml)

# `lorafleet up` made the access token that requests which change something must carry.
token_file=$home/token
[[ -s $token_file ]] || fail "lorafleet up wrote no access token to $token_file"
expect_eq "$(stat -c %a "$token_file")" 600 "mode of $token_file"
ok "the access token file exists with mode 0600"

# A valid sweep without the token, or with a wrong one: 401, and nothing is stored (checked with
# the bad sweeps below).
python3 - "$url" "$repo" <<'PY' || fail "a request without the access token was not refused"
import json, sys, urllib.error, urllib.request
url, base_dir = sys.argv[1], sys.argv[2]
spec = open(base_dir + "/examples/sweeps/lora-ranks.yaml").read()
body = json.dumps({"spec": spec, "base_dir": base_dir, "source": "lora-ranks.yaml"}).encode()
for name, headers in [("no token", {}), ("a wrong token", {"Authorization": "Bearer nope"})]:
    request = urllib.request.Request(url + "/v1/sweeps", data=body, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        urllib.request.urlopen(request, timeout=30)
        print("FAIL POST /v1/sweeps with %s was accepted" % name)
        sys.exit(1)
    except urllib.error.HTTPError as e:
        message = json.loads(e.read())["error"]["message"]
        if e.code != 401 or "access token" not in message:
            print("FAIL POST /v1/sweeps with %s: HTTP %d %s" % (name, e.code, message))
            sys.exit(1)
        print("ok   POST /v1/sweeps with %s: 401 %s" % (name, message))
PY

# POST every case with python3's urllib (the CLI would hide the HTTP status) and check the reply.
python3 - "$url" "$repo" "$(cat "$token_file")" "${cases[@]}" <<'PY' || fail "some bad sweeps were not refused as they should be"
import json, os, sys, urllib.error, urllib.request

url, base_dir, token, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
failures = 0
for path in files:
    name = os.path.basename(path)
    text = open(path).read()
    lines = text.splitlines()
    expect = lines[0].split("# expect:", 1)[1].strip()
    field_want = next((l.split("# field:", 1)[1].strip() for l in lines if l.startswith("# field:")), None)
    body = json.dumps({"spec": text, "base_dir": base_dir, "source": name}).encode()
    request = urllib.request.Request(url + "/v1/sweeps", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            status, payload = reply.status, reply.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    problems = []
    try:
        error = json.loads(payload)["error"]
    except Exception as e:
        error = {}
        problems.append("the body is not {\"error\": {...}}: %r" % payload[:300])
    message, field = error.get("message", ""), error.get("field", "")
    if status != 400:
        problems.append("HTTP %d, want 400" % status)
    if error and error.get("status") != 400:
        problems.append("error.status %r, want 400" % error.get("status"))
    if expect not in message:
        problems.append("the message does not contain %r" % expect)
    if not isinstance(field, str) or not field:
        problems.append("error.field is missing or empty")
    elif field_want is not None and field != field_want:
        problems.append("error.field %r, want %r" % (field, field_want))
    elif not message.startswith(field + ":"):
        problems.append("the message does not begin with its field %r" % field)
    if problems:
        failures += 1
        print("FAIL %s: %s\n     message: %s\n     field:   %r" % (name, "; ".join(problems), message, field))
    else:
        print("ok   %s: 400, field %s, message: %s" % (name, field, message))
print("%d of %d bad sweeps refused as they should be" % (len(files) - failures, len(files)))
sys.exit(1 if failures else 0)
PY
ok "all ${#cases[@]} bad sweeps got 400 with the expected message and a field path"

# The CLI says the same and exits 1.
f=$corpus/rank_zero_in_space.yaml
out=$(lf submit "$f" 2>&1)
rc=$?
expect_eq "$rc" 1 "exit code of lorafleet submit $(basename "$f")"
grep -qF "$(sed -n '1s/^# expect: //p' "$f")" <<<"$out" || fail "submit $(basename "$f"): $out"
grep -qF "$f" <<<"$out" || fail "submit $(basename "$f") does not name the file: $out"
ok "lorafleet submit names the file and the field: $out"

# A refused request stores nothing.
run_ok "sweeps --json" lf sweeps --json
expect_eq "$(jget 'j["sweeps"]' <<<"$out")" "[]" "sweeps after the refused submissions"
run_ok "queue --json" lf queue --json
expect_eq "$(jget 'sum(j["counts"].values()), j["queued"], j["running"]' <<<"$out")" "[0, [], []]" \
  "trials after the refused submissions"
python3 - "$url" <<'PY' || fail "the audit log is not empty"
import json, sys, urllib.request
events = json.load(urllib.request.urlopen(sys.argv[1] + "/v1/events?limit=100", timeout=30))["events"]
touching = [e for e in events if e.get("sweep_id") or e.get("trial_id")]
print("  audit log: %d events, %d about sweeps or trials" % (len(events), len(touching)))
sys.exit(1 if touching else 0)
PY
ok "no event about a sweep or a trial was recorded"

fleet_down
[[ -z $(fleet_processes) ]] || fail "processes left after down: $(fleet_processes | tr '\n' ' ')"
ok "no process of the fleet left"
exit 0
