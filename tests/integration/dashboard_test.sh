#!/usr/bin/env bash
# The web dashboard in headless Chromium (Debian's package), against a real fleet with a small
# finished sweep: every page opened, what it shows checked against the JSON API, sorting and the
# x-axis choice through the route, the Pareto front, an adapter downloaded from its link, and a
# running trial's page redrawing as it trains. Screenshots go to BIN_DIR/../screenshots/.
# usage: dashboard_test.sh BIN_DIR
source "$(dirname "$0")/lib.sh"
lf_begin "$1" dashboard

browser=$(command -v chromium || command -v chromium-browser) || {
  echo "SKIP: no chromium (make deps installs Debian's): the dashboard is not tested"
  exit 77
}
shots=$(cd "$bin/.." && pwd)/screenshots
mkdir -p "$shots"

# open NAME ROUTE [MS]: the page at #ROUTE after MS ms of (virtual) time, its DOM in $tmp/NAME.html
# and its picture in $shots/dashboard-NAME.png.
open_page() {
  local flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
               --hide-scrollbars --user-data-dir="$tmp/chromium" --window-size=1400,1100
               --virtual-time-budget="${3:-3000}")
  timeout 60 "$browser" "${flags[@]}" --dump-dom "$url/#$2" >"$tmp/$1.html" 2>>"$tmp/chromium.log" ||
    fail "chromium could not open #$2: $(tail -n 5 "$tmp/chromium.log")"
  timeout 60 "$browser" "${flags[@]}" --screenshot="$shots/dashboard-$1.png" "$url/#$2" \
    >>"$tmp/chromium.log" 2>&1 || fail "chromium could not screenshot #$2"
  [[ -s $shots/dashboard-$1.png ]] || fail "no screenshot of #$2"
  grep -q 'id="problem" hidden' "$tmp/$1.html" ||
    fail "#$2 shows a problem: $(page "$1" 'page.text(page.find(id="problem")[0])')"
}
# page NAME EXPR: EXPR over the page NAME (dashboard_page.py says what it can use).
page() { python3 "$repo/tests/integration/dashboard_page.py" "$tmp/$1.html" "$2"; }

fleet_up --workers 2

sweep_file "$tmp/sweep.yaml" it-dashboard 30 10 '  lora.r: [1, 8]
  train.lr: [1.0e-3, 3.0e-3]'
sed -i 's/log_every: 1}/log_every: 1, eval_every: 10}/' "$tmp/sweep.yaml"  # eval points on the curve
run_ok "submit the sweep --wait" timeout 180 "$bin/lorafleet" submit "$tmp/sweep.yaml" --wait \
  --json --home "$home"
sweep=$(jget 'j["sweep"]["id"]' <<<"$out")
run_ok "compare --json" lf compare "$sweep" --json
cmp=$out

# Assets come from the coordinator itself.
for asset in / /dashboard/dashboard.js /dashboard/charts.js /dashboard/dashboard.css; do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1]).read()' "$url$asset" ||
    fail "GET $asset failed"
done
ok "the page and its assets are served by the coordinator"

# The queue: counts by state; nothing running or queued.
open_page queue /queue
expect_eq "$(page queue 'page.text(page.find("div", data_state="completed")[0])')" completed4 \
  "queue page: completed count"
expect_eq "$(page queue '"Nothing is running." in page.text() and "Nothing is queued." in page.text()')" \
  true "queue page: nothing running or queued"

# Workers: both ranks, idle, with their host and a recent heartbeat.
open_page workers /workers
expect_eq "$(page workers '[r["state"] for r in page.rows("workers")]')" '["idle", "idle"]' \
  "workers page: two idle workers"
expect_eq "$(page workers '{r["host"] for r in page.rows("workers")} == {"'"$(hostname)"'"}')" true \
  "workers page: the host"

# Sweeps: the sweep, finished, 4 of 4 done.
open_page sweeps /sweeps
expect_eq "$(page sweeps '[(r["_id"], r["name"], r["state"], r["done"]) for r in page.rows("sweeps")]')" \
  "[[\"$sweep\", \"it-dashboard\", \"finished\", \"4 / 4\"]]" "sweeps page: the sweep"

# The sweep: its comparison table in the API's order (best first), every trial linked.
open_page sweep "/sweeps/$sweep"
expect_eq "$(page sweep '[r["_id"] for r in page.rows("compare")]')" \
  "$(jget '[r["trial_id"] for r in j["rows"]]' <<<"$cmp")" "sweep page: trials best first"
expect_eq "$(page sweep '[float(r["eval_loss"]) for r in page.rows("compare")]')" \
  "$(jget '[float("%.4g" % r["eval_loss"]) for r in j["rows"]]' <<<"$cmp")" \
  "sweep page: eval losses"
# Eval loss against lora.r: a line per learning rate, two ranks each.
expect_eq "$(page sweep 'sorted(g["data-name"] for g in page.find("g", class_="series-group", within=page.find(data_chart="loss")[0]))')" \
  '["train.lr=0.001", "train.lr=0.003"]' "sweep page: a line per learning rate"
expect_eq "$(page sweep '[p["data-points"] for p in page.find("polyline", class_="series")]')" \
  '["2", "2"]' "sweep page: two ranks on each line"
# The Pareto front: the same trials as the API's, marked in the chart and the table.
front=$(jget 'sorted(r["trial_id"] for r in j["rows"] if r["pareto_front"])' <<<"$cmp")
[[ $front != "[]" ]] || fail "the API marks no trial on the Pareto front: $cmp"
expect_eq "$(page sweep 'sorted(c["data-id"] for c in page.find("circle", class_="pareto"))')" \
  "$front" "sweep page: the Pareto front in the chart"
expect_eq "$(page sweep 'sorted(r["_id"] for r in page.rows("compare") if r["pareto_front"] == "✓")')" \
  "$front" "sweep page: the Pareto front in the table"

# Sorting through the route: by eval loss, worst first; by adapter size, smallest first.
open_page sweep-by-loss "/sweeps/$sweep?sort=compare.eval_loss&desc=1"
expect_eq "$(page sweep-by-loss '[r["_id"] for r in page.rows("compare")]')" \
  "$(jget '[r["trial_id"] for r in j["rows"]][::-1]' <<<"$cmp")" "sorted by eval loss, descending"
open_page sweep-by-size "/sweeps/$sweep?sort=compare.adapter_bytes"
expect_eq "$(page sweep-by-size '[r["_id"] for r in page.rows("compare")]')" \
  "$(jget '[r["trial_id"] for r in sorted(j["rows"], key=lambda r: r["adapter_bytes"])]' <<<"$cmp")" \
  "sorted by adapter size"
expect_eq "$(page sweep-by-size '[a["class"] for a in page.find("a", data_column="adapter_bytes")]')" \
  '["sorted"]' "the sorted column is marked"
# Another swept key on the x axis: a line per rank.
open_page sweep-by-lr "/sweeps/$sweep?x=train.lr"
expect_eq "$(page sweep-by-lr 'sorted(g["data-name"] for g in page.find("g", class_="series-group", within=page.find(data_chart="loss")[0]))')" \
  '["lora.r=1", "lora.r=8"]' "x=train.lr: a line per rank"

# A trial: state, its loss curve (a point a step), eval points, history, config and adapter.
best=$(jget 'j["rows"][0]["trial_id"]' <<<"$cmp")
open_page trial "/trials/$best"
expect_eq "$(page trial 'page.text(page.find("span", class_="state")[0])')" completed "trial page: state"
# train_points PAGE: the points drawn on the train loss curve (at most 800: a longer one is
# thinned); last_step PAGE: the step of its newest point.
train_points() { page "$1" 'int(page.find("polyline", within=page.find("g", data_name="train loss")[0])[0]["data-points"])'; }
last_step() { page "$1" 'int(page.find("g", data_name="train loss")[0]["data-last-x"])'; }
expect_eq "$(train_points trial)" 30 "trial page: the train loss curve has 30 steps"
evals=$(python3 -c 'import json, sys, urllib.request; print(len(json.load(urllib.request.urlopen(sys.argv[1]))["metrics"]))' \
  "$url/v1/trials/$best/metrics?name=eval_loss")
expect_eq "$(page trial 'len(page.find("circle", within=page.find("g", data_name="eval loss")[0]))')" "$evals" \
  "trial page: every eval point"
expect_eq "$(page trial 'any(r["detail"].startswith("running -> completed") for r in page.rows("events"))')" \
  true "trial page: the state history"
expect_eq "$(page trial 'json.loads(page.text(page.find("pre", class_="config")[0]))["lora"]["r"]')" \
  "$(jget "[r['r'] for r in j['rows'] if r['trial_id'] == '$best'][0]" <<<"$cmp")" \
  "trial page: the configuration"
link=$(page trial '[a["href"] for a in page.find("a", class_="download") if a["download"] == "adapter_model.safetensors"][0]')
size=$(page trial '[r["size"] for r in page.rows("files") if r["name"] == "adapter_model.safetensors"][0]')
python3 -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())' \
  "$url$link" "$tmp/downloaded.safetensors" || fail "downloading $link"
run_ok "export $best" lf export "$best" "$tmp/export"
expect_true "the downloaded adapter ($size) is the exported one" \
  cmp -s "$tmp/downloaded.safetensors" "$tmp/export/adapter_model.safetensors"

# The registry.
open_page adapters /adapters
expect_eq "$(page adapters 'len(page.rows("adapters"))')" 4 "adapters page: four adapters"

# Repeats: two configurations with two seeds each get a row each with its interval drawn.
sweep_file "$tmp/repeats.yaml" it-repeats 10 10 '  lora.r: [1, 8]' 'num_samples: 2'
run_ok "submit a sweep with repeats --wait" timeout 180 "$bin/lorafleet" submit "$tmp/repeats.yaml" \
  --wait --json --home "$home"
repeats=$(jget 'j["sweep"]["id"]' <<<"$out")
open_page repeats "/sweeps/$repeats"
expect_eq "$(page repeats '[r["config"] for r in page.rows("repeats")]')" \
  "$(lfj '["lora.r=%d" % g["params"]["lora.r"] for g in j["repeats"]]' compare "$repeats")" \
  "repeats table: one row per configuration, in the API's order"
expect_eq "$(page repeats '[r["n"] for r in page.rows("repeats")]')" '["2", "2"]' "repeats table: two seeds each"
expect_eq "$(page repeats 'len(page.find("svg", **{"data-interval": "best"}))')" 1 \
  "repeats table: the best configuration's interval is drawn"

# Two sweeps compared together, and a trial that is still training.
sweep_file "$tmp/long.yaml" it-long 100000 1000 '  lora.r: [2]'
run_ok "submit a long sweep" lf submit "$tmp/long.yaml" --json
long=$(jget 'j["sweep"]["id"]' <<<"$out")
open_page compare "/compare?sweeps=$sweep,$long"
expect_eq "$(page compare 'sorted({r["sweep_id"] for r in page.rows("compare")})')" \
  "$(jget 'sorted([j[0], j[1]])' <<<"[\"$sweep\", \"$long\"]")" "compare page: both sweeps' trials"
expect_eq "$(page compare 'len(page.rows("compare"))')" 5 "compare page: five trials"

running_step() { lfj 'j["trials"][0]["step"]' status "$long"; }
step_above() { local s; s=$(running_step) && ((s > $1)); }
wait_until 60 "the long trial reports steps" step_above 5
long_trial=$(lfj 'j["trials"][0]["id"]' status "$long")
open_page live "/trials/$long_trial" 5000
expect_eq "$(page live 'page.text(page.find("span", class_="state")[0])')" running "live page: running"
draws=$(page live 'int(page.find("body")[0]["data-draws"])')
((draws >= 2)) || fail "the trial page drew $draws times in 5 s; it should redraw every 2 s"
ok "the trial page redraws while open ($draws draws in 5 s)"
first=$(last_step live)
wait_until 60 "the long trial trains on" step_above "$((first + 20))"
open_page live-later "/trials/$long_trial"
later=$(last_step live-later)
((later > first)) || fail "the loss curve did not grow: it ended at step $first, then $later"
ok "the loss curve grows as the trial trains: it ends at step $first, then $later"
open_page queue-running /queue
expect_eq "$(page queue-running '[r["_id"] for r in page.rows("running")]')" "[\"$long_trial\"]" \
  "queue page: the running trial"
run_ok "cancel the long sweep" lf cancel "$long"

echo "  screenshots: $(ls "$shots" | tr '\n' ' ')"
fleet_down
exit 0
