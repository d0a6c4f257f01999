#!/usr/bin/env bash
# Who may do what on a real coordinator's HTTP port: a token per user names who acts (the audit
# log's actor and the sweep's owner, whatever headers or body say), a Host the daemon does not
# answer to is refused (DNS rebinding), and a request without a token is refused from its header,
# before its body is read.
# usage: access_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" access

# The operator's token (what `lorafleet up` would make) and alice's, written before the fleet
# starts: lorafleetd reads the file once.
mkdir -p "$home" && chmod 700 "$home"
(umask 077 && printf 'op3rator-t0ken\nal1ce-t0ken alice\n' >"$home/token")
# Quotas and host names reach lorafleetd through `up --daemon-args`.
fleet_up --workers 0 --daemon-args "--allowed-host fleet.example --quota-trials-per-owner 15"

python3 - "$url" "$repo" <<'PY' || fail "the HTTP access rules do not hold"
import json, socket, sys, time, urllib.error, urllib.parse, urllib.request

url, base_dir = sys.argv[1], sys.argv[2]
spec = open(base_dir + "/examples/sweeps/lora-ranks.yaml").read()
failures = 0

def call(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

def check(what, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what + (": " + str(detail) if detail else ""))
    failures += 0 if ok else 1

alice = {"Authorization": "Bearer al1ce-t0ken", "X-Lorafleet-User": "mallory"}
status, reply = call("POST", "/v1/sweeps", {"spec": spec, "base_dir": base_dir, "owner": "bob"}, alice)
check("alice's token submitting as owner bob: 403", status == 403 and
      reply["error"]["field"] == "owner", (status, reply))
status, reply = call("POST", "/v1/sweeps", {"spec": spec, "base_dir": base_dir}, alice)
check("alice's token submits", status == 201, status)
sweep = reply["sweep"]["id"]
check("the sweep's owner is alice", reply["sweep"]["owner"] == "alice", reply["sweep"]["owner"])
status, reply = call("POST", "/v1/sweeps/%s/cancel" % sweep, {}, alice)
check("alice cancels it", status == 200, status)
status, reply = call("GET", "/v1/events?sweep=%s" % sweep)
actors = sorted({e["actor"] for e in reply["events"] if e["kind"] != "trial"})
check("every event of the sweep names user:alice, not the header's mallory",
      actors == ["user:alice"], actors)

op = {"Authorization": "Bearer op3rator-t0ken"}
status, reply = call("POST", "/v1/sweeps", {"spec": spec, "base_dir": base_dir, "owner": "carol"}, op)
check("the operator's token may label a sweep with any owner", status == 201 and
      reply["sweep"]["owner"] == "carol", status)
call("POST", "/v1/sweeps/%s/cancel" % reply["sweep"]["id"], {}, op)

status, first = call("POST", "/v1/sweeps", {"spec": spec, "base_dir": base_dir}, alice)
status2, second = call("POST", "/v1/sweeps", {"spec": spec, "base_dir": base_dir}, alice)
check("alice's second 10-trial sweep goes past her quota of 15 unfinished trials: 429",
      status == 201 and status2 == 429 and "--quota-trials-per-owner" in second["error"]["message"],
      (status, status2, second.get("error", {}).get("message")))
call("POST", "/v1/sweeps/%s/cancel" % first["sweep"]["id"], {}, alice)

port = urllib.parse.urlparse(url).port
def raw(request_bytes):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request_bytes)
        start, data = time.time(), b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, time.time() - start
            data += chunk

reply, _ = raw(b"GET /v1/health HTTP/1.1\r\nHost: evil.example:7070\r\nConnection: close\r\n\r\n")
check("Host: evil.example gets 421", reply.startswith(b"HTTP/1.1 421 "), reply[:80])
reply, _ = raw(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
check("Host: localhost is served", reply.startswith(b"HTTP/1.1 200 "), reply[:80])
reply, _ = raw(b"GET /v1/health HTTP/1.1\r\nHost: fleet.example:7070\r\nConnection: close\r\n\r\n")
check("Host: fleet.example (--allowed-host) is served", reply.startswith(b"HTTP/1.1 200 "), reply[:80])
# 60 MiB announced and none sent: the refusal comes from the header alone.
reply, took = raw(b"POST /v1/sweeps HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 62914560\r\nExpect: 100-continue\r\n\r\n")
check("a POST without a token is refused before its body (no 100 Continue)",
      reply.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in reply, (reply[:60], "%.2fs" % took))
sys.exit(1 if failures else 0)
PY
ok "tokens name users, Host is checked, the token is checked before the body"

fleet_down
exit 0
