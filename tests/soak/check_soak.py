#!/usr/bin/env python3
"""The chaos soak's checker (tests/soak/soak.sh runs it; standard library only).

  check_soak.py sample --home H [--limit N]
      prints one JSON line per running trial (at most N, at random): the metric points
      (step, name) the coordinator serves for it now. Each must still be there at the end.
  check_soak.py check --home H --chaos DIR --sweep ID --trials N --kills K --restarts R ...
      checks the finished sweep from the store (lorafleet-store's JSON in DIR), the audit log, the
      API of the running coordinator and the workers' log, prints the figures and every
      violation, and exits 1 when there is one.

What is checked (a violation each):
  - every submitted trial is stored, and is completed, or failed with a reason;
  - the audit log has one '-> completed' transition per completed trial and none for a failed
    one; each trial's transitions chain (each starts where the last ended) from 'queued';
  - leases (the audit log's '-> assigned (attempt n) to W' until the attempt ends) never overlap
    and attempts count up by one; no two worker processes trained one trial at the same time
    (the workers' 'trial T attempt N started' log lines, to their end line or their SIGKILL);
  - every metric point the coordinator served during the soak is still stored;
  - every completed trial has its adapter; each file's bytes hash to the sha256 the store lists,
    which is the one the 'adapter.stored' audit event recorded and the one of the file the
    trial's last attempt wrote in the runs folder; a failed trial has no adapter.
"""

import argparse
import hashlib
import json
import os
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

FINAL = {"completed", "failed", "cancelled", "stopped"}


def coordinator_url(home):
    with open(os.path.join(home, "coordinator.json")) as f:
        http = json.load(f)["http"]
    return http if http.startswith("http") else "http://" + http


def get(url, path, raw=False):
    with urllib.request.urlopen(url + path, timeout=30) as r:
        body = r.read()
    return body if raw else json.loads(body)


# ---- sample ------------------------------------------------------------------------------------


def sample(args):
    url = coordinator_url(args.home)
    running = [r["trial_id"] for r in get(url, "/v1/queue?limit=1")["running"]]
    random.shuffle(running)
    for trial in running[: args.limit]:
        points = get(url, "/v1/trials/%s/metrics" % urllib.parse.quote(trial))["metrics"]
        if points:
            print(json.dumps({"time_ms": int(time.time() * 1000), "trial": trial,
                              "points": [[p["step"], p["name"]] for p in points]}))


# ---- check -------------------------------------------------------------------------------------

TRANSITION = re.compile(r"^(\w+) -> (\w+) \(attempt (\d+)\)(?: to (\S+))?(?::\s*(.*))?$", re.S)
ADAPTER_FILE = re.compile(r"([^,\s][^,]*?) \((\d+) bytes, sha256 ([0-9a-f]{64})\)")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3}) \S+ \[(\d+)\] (.*)$")
WORKER_START = re.compile(r"^trial (\S+) attempt (\d+) started")
WORKER_END = re.compile(
    r"^trial (\S+) attempt (\d+)(?::)? (finished|stopped by the coordinator|interrupted by|"
    r"failed after|this gang member's part is done)")


def log_time_ms(date, ms):
    return int(time.mktime(time.strptime(date, "%Y-%m-%dT%H:%M:%S"))) * 1000 + int(ms)


def read_lines(path):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


class Checker:
    def __init__(self, args):
        self.args = args
        self.violations = []
        self.notes = []
        self.figures = {}

    def violation(self, text):
        self.violations.append(text)

    def run(self):
        a = self.args
        with open(os.path.join(a.chaos, "store_trials.json")) as f:
            trials = {t["id"]: t for t in json.load(f) if t["sweep_id"] == a.sweep}
        with open(os.path.join(a.chaos, "store_events.json")) as f:
            events = json.load(f)
        submitted = read_lines(os.path.join(a.chaos, "submitted.txt"))
        self.check_events_log(events)
        self.check_states(trials, submitted)
        transitions = self.check_transitions(trials, events)
        self.check_leases(transitions)
        self.check_worker_holds()
        url = coordinator_url(a.home)
        self.check_metrics(url, trials)
        self.check_adapters(url, trials, events)
        lost = [e for e in events if e["kind"] == "worker.lost" and e["sweep_id"] in ("", a.sweep)]
        self.figures.update({
            "trials": len(submitted),
            "completed": sum(t["state"] == "completed" for t in trials.values()),
            "failed": sum(t["state"] == "failed" for t in trials.values()),
            "attempts": sum(t["attempt"] for t in trials.values()),
            "worker_kills": a.kills,
            "coordinator_restarts": a.restarts,
            "worker_lost_events": len(lost),
            "wall_s": a.wall_s,
            "violations": len(self.violations),
        })
        if a.kills < a.want_kills or a.restarts < a.want_restarts:
            self.violation("the sweep finished after %d of %d worker kills and %d of %d coordinator "
                           "restarts: make the trials longer (--steps) or the gaps shorter"
                           % (a.kills, a.want_kills, a.restarts, a.want_restarts))
            self.figures["violations"] = len(self.violations)
        self.report()
        return 0 if not self.violations else 1

    # -- the audit log

    def check_events_log(self, events):
        seqs = [e["seq"] for e in events]
        if seqs != list(range(1, len(seqs) + 1)):
            self.violation("the audit log's sequence numbers have gaps or repeats")
        self.figures["audit_events"] = len(events)

    def check_states(self, trials, submitted):
        missing = [t for t in submitted if t not in trials]
        if missing:
            self.violation("%d acknowledged trials are not in the store: %s"
                           % (len(missing), ", ".join(missing[:5])))
        if len(trials) != len(submitted):
            self.violation("the store has %d trials of the sweep, submit acknowledged %d"
                           % (len(trials), len(submitted)))
        for tid, t in sorted(trials.items()):
            if t["state"] == "completed":
                continue
            if t["state"] == "failed":
                if not t["last_error"].strip():
                    self.violation("%s failed with no reason" % tid)
                continue
            self.violation("%s ended %s, not completed or failed" % (tid, t["state"]))

    def check_transitions(self, trials, events):
        by_trial = {tid: [] for tid in trials}
        for e in events:
            if e["kind"] != "trial.transition" or e["trial_id"] not in by_trial:
                continue
            m = TRANSITION.match(e["detail"])
            if not m:
                self.violation("event %d: transition detail does not parse: %r"
                               % (e["seq"], e["detail"]))
                continue
            by_trial[e["trial_id"]].append({
                "seq": e["seq"], "time_ms": e["time_ms"], "from": m.group(1), "to": m.group(2),
                "attempt": int(m.group(3)), "worker": m.group(4) or "",
                "reason": (m.group(5) or "").strip()})
        retried_failures = 0
        for tid, ts in sorted(by_trial.items()):
            state = "queued"
            for x in ts:
                if x["from"] != state:
                    self.violation("%s: transition %d goes %s -> %s but the trial was %s "
                                   "(a transition is missing from the audit log)"
                                   % (tid, x["seq"], x["from"], x["to"], state))
                state = x["to"]
            if state != trials[tid]["state"]:
                self.violation("%s: the audit log ends in %s, the record says %s"
                               % (tid, state, trials[tid]["state"]))
            completions = sum(x["to"] == "completed" for x in ts)
            want = 1 if trials[tid]["state"] == "completed" else 0
            if completions != want:
                self.violation("%s (%s) has %d '-> completed' transitions"
                               % (tid, trials[tid]["state"], completions))
            fails = [x for x in ts if x["to"] == "failed"]
            if trials[tid]["state"] == "failed" and (not fails or not fails[-1]["reason"]):
                self.violation("%s failed, and its last '-> failed' transition gives no reason"
                               % tid)
            retried_failures += len(fails) - (trials[tid]["state"] == "failed")
        self.figures["retried_failures"] = retried_failures
        return by_trial

    def check_leases(self, by_trial):
        ends = {"queued", "failed", "completed", "cancelled", "stopped"}
        leases = 0
        for tid, ts in sorted(by_trial.items()):
            held = None  # (attempt, worker, since)
            last_attempt = 0
            for x in ts:
                if x["to"] == "assigned":
                    leases += 1
                    if held is not None:
                        self.violation("%s: attempt %d assigned to %s while attempt %d still held "
                                       "by %s" % (tid, x["attempt"], x["worker"], held[0], held[1]))
                    if x["attempt"] != last_attempt + 1:
                        self.violation("%s: attempt %d follows attempt %d"
                                       % (tid, x["attempt"], last_attempt))
                    last_attempt = x["attempt"]
                    held = (x["attempt"], x["worker"], x["time_ms"])
                elif x["to"] in ends and x["from"] in ("assigned", "running"):
                    if held is None or held[0] != x["attempt"]:
                        self.violation("%s: attempt %d ended (%s -> %s) but was not the lease held"
                                       % (tid, x["attempt"], x["from"], x["to"]))
                    held = None
        self.figures["leases"] = leases

    # -- what the workers did (their log) against what was killed

    def check_worker_holds(self):
        a = self.args
        killed = {}
        for line in read_lines(os.path.join(a.chaos, "kills.txt")):
            ms, pid = line.split()
            killed[int(pid)] = int(ms)
        now = int(time.time() * 1000)
        open_runs = {}  # (pid, trial, attempt) -> start ms
        runs = []       # (trial, attempt, pid, start, end, how)
        finishes = {}
        for line in read_lines(os.path.join(a.home, "logs", "workers.log")):
            m = LOG_LINE.match(line)
            if not m:
                continue
            t, pid, msg = log_time_ms(m.group(1), m.group(2)), int(m.group(3)), m.group(4)
            s = WORKER_START.match(msg)
            if s:
                open_runs[(pid, s.group(1), int(s.group(2)))] = t
                continue
            e = WORKER_END.match(msg)
            if e:
                key = (pid, e.group(1), int(e.group(2)))
                if key in open_runs:
                    runs.append((key[1], key[2], pid, open_runs.pop(key), t, e.group(3)))
                if e.group(3) == "finished":
                    finishes[key[1]] = finishes.get(key[1], 0) + 1
        for (pid, trial, attempt), start in open_runs.items():
            end = killed.get(pid)
            runs.append((trial, attempt, pid, start, end if end is not None else now,
                         "SIGKILL" if end is not None else "still running at the check"))
            if end is None:
                self.violation("worker %d still trains %s attempt %d after the sweep finished"
                               % (pid, trial, attempt))
        by_trial = {}
        for r in runs:
            by_trial.setdefault(r[0], []).append(r)
        overlaps = 0
        for trial, rs in sorted(by_trial.items()):
            rs.sort(key=lambda r: r[3])
            for i, r in enumerate(rs):
                for q in rs[i + 1:]:
                    if q[3] >= r[4]:
                        break
                    if q[2] != r[2]:
                        overlaps += 1
                        self.violation(
                            "%s was trained by two workers at once: attempt %d on pid %d "
                            "(%d..%d, ended: %s) and attempt %d on pid %d (from %d)"
                            % (trial, r[1], r[2], r[3], r[4], r[5], q[1], q[2], q[3]))
        self.figures["worker_attempts_logged"] = len(runs)
        self.figures["trials_trained_to_the_end_twice"] = sum(n > 1 for n in finishes.values())

    # -- metrics and adapters (from the running coordinator)

    def check_metrics(self, url, trials):
        a = self.args
        final = {}

        def points(tid):
            if tid not in final:
                ms = get(url, "/v1/trials/%s/metrics" % urllib.parse.quote(tid))["metrics"]
                final[tid] = {(p["step"], p["name"]) for p in ms}
            return final[tid]

        samples = lost = 0
        for line in read_lines(os.path.join(a.chaos, "acked_metrics.jsonl")):
            s = json.loads(line)
            samples += 1
            have = points(s["trial"])
            gone = [p for p in map(tuple, s["points"]) if p not in have]
            if gone:
                lost += len(gone)
                self.violation("%s: %d metric points the coordinator served at %d are gone, "
                               "e.g. step %d %s" % (s["trial"], len(gone), s["time_ms"],
                                                    gone[0][0], gone[0][1]))
        # Points never served (in flight to a killed coordinator, or queued in a killed worker
        # whose checkpoint was newer than the last one reported) leave gaps, which the protocol
        # does not promise against: counted, not violations.
        gaps = gappy = 0
        for tid, t in trials.items():
            if t["state"] != "completed":
                continue
            steps = {s for s, n in points(tid) if n == "loss"}
            if not steps:
                self.violation("%s completed with no loss metric stored" % tid)
                continue
            missing = set(range(min(steps), max(steps) + 1)) - steps
            gaps += len(missing)
            gappy += bool(missing)
        self.figures.update({"metric_samples": samples, "metric_points_lost": lost,
                             "loss_steps_never_stored": gaps, "trials_with_loss_gaps": gappy})

    def check_adapters(self, url, trials, events):
        a = self.args
        stored_events = {}
        for e in events:
            if e["kind"] == "adapter.stored" and e["trial_id"] in trials:
                stored_events.setdefault(e["trial_id"], []).append(
                    {m.group(1): m.group(3) for m in ADAPTER_FILE.finditer(e["detail"])})
        checked = 0
        for tid, t in sorted(trials.items()):
            path = "/v1/trials/%s/adapter" % urllib.parse.quote(tid)
            try:
                files = get(url, path)["files"]
            except urllib.error.HTTPError as e:
                if e.code == 404 and t["state"] != "completed":
                    continue
                self.violation("%s (%s): GET %s: HTTP %d" % (tid, t["state"], path, e.code))
                continue
            if t["state"] != "completed":
                self.violation("%s is %s but has adapter files" % (tid, t["state"]))
            recorded = stored_events.get(tid, [])
            if len(recorded) != 1:
                self.violation("%s has %d adapter.stored events, want 1" % (tid, len(recorded)))
            recorded = recorded[-1] if recorded else {}
            names = {f["name"] for f in files}
            if "adapter_model.safetensors" not in names or "result.json" not in names:
                self.violation("%s: stored files %s lack the adapter or result.json"
                               % (tid, sorted(names)))
            if set(recorded) != names:
                self.violation("%s: the store lists %s, the audit log recorded %s"
                               % (tid, sorted(names), sorted(recorded)))
            for f in files:
                data = get(url, path + "/" + urllib.parse.quote(f["name"]), raw=True)
                sha = hashlib.sha256(data).hexdigest()
                checked += 1
                if sha != f["sha256"] or len(data) != f["size"]:
                    self.violation("%s/%s: bytes hash to %s (%d bytes), the store lists %s (%d)"
                                   % (tid, f["name"], sha, len(data), f["sha256"], f["size"]))
                if recorded.get(f["name"], sha) != sha:
                    self.violation("%s/%s: sha256 %s, the audit log recorded %s"
                                   % (tid, f["name"], sha, recorded[f["name"]]))
                run_dir = os.path.join(a.home, "runs", a.sweep, tid)
                local = os.path.join(run_dir, f["name"] if f["name"] == "result.json"
                                     else os.path.join("adapter", f["name"]))
                try:
                    with open(local, "rb") as fh:
                        local_sha = hashlib.sha256(fh.read()).hexdigest()
                except OSError as e:
                    self.violation("%s: %s" % (tid, e))
                    continue
                if local_sha != sha:
                    self.violation("%s/%s: the runs folder's file (sha256 %s) is not the stored "
                                   "one (%s): another attempt wrote it after the one that completed"
                                   % (tid, f["name"], local_sha, sha))
        self.figures["adapter_files_checked"] = checked

    def report(self):
        f = self.figures
        print("== chaos soak: %d trials: %d completed, %d failed; %d attempts, %d leases"
              % (f["trials"], f["completed"], f["failed"], f["attempts"], f["leases"]))
        print("   %d worker SIGKILLs, %d coordinator SIGKILL+restarts, %d worker.lost events, "
              "%d retried failures, sweep wall time %d s"
              % (f["worker_kills"], f["coordinator_restarts"], f["worker_lost_events"],
                 f["retried_failures"], f["wall_s"]))
        print("   %d audit events; %d metric samples, %d served points lost; %d adapter files "
              "hashed; %d worker attempts from the log; %d trials trained to the end twice; "
              "%d loss steps never stored (in %d trials)"
              % (f["audit_events"], f["metric_samples"], f["metric_points_lost"],
                 f["adapter_files_checked"], f["worker_attempts_logged"],
                 f["trials_trained_to_the_end_twice"], f["loss_steps_never_stored"],
                 f["trials_with_loss_gaps"]))
        if self.violations:
            print("   %d VIOLATIONS:" % len(self.violations))
            for v in self.violations[:50]:
                print("   - " + v)
        else:
            print("   no violation")
        if self.args.report:
            with open(self.args.report, "w") as out:
                json.dump({"figures": f, "violations": self.violations}, out, indent=2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--home", required=True)
    s.add_argument("--limit", type=int, default=2)
    c = sub.add_parser("check")
    c.add_argument("--home", required=True)
    c.add_argument("--chaos", required=True)
    c.add_argument("--sweep", required=True)
    c.add_argument("--trials", type=int, required=True)
    c.add_argument("--kills", type=int, required=True)
    c.add_argument("--restarts", type=int, required=True)
    c.add_argument("--want-kills", type=int, default=0)
    c.add_argument("--want-restarts", type=int, default=0)
    c.add_argument("--wall-s", type=int, default=0)
    c.add_argument("--report")
    args = p.parse_args()
    if args.command == "sample":
        try:
            sample(args)
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            return 0  # no coordinator at the moment (it is being restarted): no sample
        return 0
    return Checker(args).run()


if __name__ == "__main__":
    sys.exit(main())
