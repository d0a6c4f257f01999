#include "cli/commands/views.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "common/clock.h"
#include "jobs/compare.h"

namespace lf::cli {
namespace {

std::string Count(const Json& counts, std::string_view state) {
  const Json& v = Member(counts, state);
  return v.is_number() ? FormatInt(v) : "0";
}

// An integer plainly, another number with up to 6 significant digits, "-" when absent.
std::string FormatNumber(const Json& value) {
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (!value.is_number()) return value.is_string() ? value.get<std::string>() : "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", value.get<double>());
  return buf;
}

// CSV cells: full precision, empty for null.
std::string Raw(const Json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string StepOf(const Json& obj) {
  const Json& steps = Member(obj, "steps");
  const Json& step = Member(obj, "step");
  if (!step.is_number()) return "-";
  return FormatInt(step) + (steps.is_number() ? "/" + FormatInt(steps) : "");
}

std::string SecondsAgo(const Json& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1fs ago", v.get<double>());
  return buf;
}

// "-000003" for "01j...-000003": a trial's place in its sweep, for lines that show the sweep id.
std::string ShortTrialId(const std::string& id) {
  const size_t dash = id.rfind('-');
  return dash == std::string::npos ? id : id.substr(dash);
}

}  // namespace

std::optional<jobs::TrialState> TrialStateOf(const Json& trial) {
  Result<jobs::TrialState> state = jobs::ParseTrialState(StringMember(trial, "state"));
  return state.ok() ? std::optional<jobs::TrialState>(*state) : std::nullopt;
}

bool IsFinalSweep(const Json& sweep) {
  Result<jobs::SweepState> state = jobs::ParseSweepState(StringMember(sweep, "state"));
  return state.ok() && jobs::IsFinal(*state);
}

std::string CountsLine(const Json& counts) {
  std::string out;
  std::set<std::string> shown;
  auto add = [&](const std::string& state, const Json& n) {
    shown.insert(state);
    if (!n.is_number() || n.get<double>() == 0) return;
    if (!out.empty()) out += ", ";
    out += FormatInt(n) + " " + state;
  };
  for (jobs::TrialState state : jobs::AllTrialStates()) {
    const std::string name(jobs::TrialStateName(state));
    add(name, Member(counts, name));
  }
  if (counts.is_object()) {
    for (const auto& [state, n] : counts.items()) {
      if (!shown.count(state)) add(state, n);
    }
  }
  return out.empty() ? "no trials" : out;
}

Table SweepsTable(const Json& sweeps) {
  Table t({{"sweep"},
           {"name"},
           {"owner"},
           {"state"},
           {"priority", Align::kRight},
           {"trials", Align::kRight},
           {"queued", Align::kRight},
           {"running", Align::kRight},
           {"completed", Align::kRight},
           {"failed", Align::kRight},
           {"created"}});
  if (!sweeps.is_array()) return t;
  for (const Json& s : sweeps) {
    const Json& counts = Member(s, "counts");
    const std::string running = std::to_string(
        static_cast<int64_t>(NumberMember(counts, "running") + NumberMember(counts, "assigned")));
    t.AddRow({StringMember(s, "id"), StringMember(s, "name"), StringMember(s, "owner"),
              StringMember(s, "state"), FormatInt(Member(s, "priority")),
              FormatInt(Member(s, "trial_count")), Count(counts, "queued"), running,
              Count(counts, "completed"), Count(counts, "failed"),
              FormatLocalTime(static_cast<int64_t>(NumberMember(s, "created_ms")))});
  }
  return t;
}

Table TrialsTable(const Json& trials) {
  Table t({{"trial"},
           {"state"},
           {"attempt", Align::kRight},
           {"step", Align::kRight},
           {"params"},
           {"worker"},
           {"last error"}});
  if (!trials.is_array()) return t;
  for (const Json& tr : trials) {
    t.AddRow({StringMember(tr, "id"), StringMember(tr, "state"), FormatInt(Member(tr, "attempt")),
              StepOf(tr), FormatParams(Member(tr, "params")), StringMember(tr, "worker"),
              Truncate(StringMember(tr, "last_error"), 60)});
  }
  return t;
}

Table QueuedTable(const Json& queued) {
  Table t({{"trial"},
           {"priority", Align::kRight},
           {"attempt", Align::kRight},
           {"waiting", Align::kRight},
           {"eligible in", Align::kRight}});
  if (!queued.is_array()) return t;
  for (const Json& q : queued) {
    const double eligible = NumberMember(q, "eligible_in_s", 0);
    t.AddRow({StringMember(q, "trial_id"), FormatInt(Member(q, "priority")),
              FormatInt(Member(q, "attempt")), FormatDuration(NumberMember(q, "waiting_s", -1)),
              Member(q, "paused") == true ? "paused"
              : eligible > 0              ? FormatDuration(eligible)
                                          : "now"});
  }
  return t;
}

Table RunningTable(const Json& running) {
  Table t({{"trial"},
           {"worker"},
           {"attempt", Align::kRight},
           {"step", Align::kRight},
           {"running", Align::kRight}});
  if (!running.is_array()) return t;
  for (const Json& r : running) {
    t.AddRow({StringMember(r, "trial_id"), StringMember(r, "worker"),
              FormatInt(Member(r, "attempt")), StepOf(r),
              FormatDuration(NumberMember(r, "running_s", -1))});
  }
  return t;
}

Table AdaptersTable(const Json& adapters) {
  Table t({{"trial"},
           {"tags"},
           {"sweep"},
           {"method"},
           {"base model"},
           {"eval loss", Align::kRight},
           {"adapter MB", Align::kRight}});
  if (!adapters.is_array()) return t;
  for (const Json& a : adapters) {
    std::string tags;
    const Json& list = Member(a, "tags");
    if (list.is_array()) {
      for (const Json& name : list) tags += (tags.empty() ? "" : ",") + name.get<std::string>();
    }
    const std::string sweep = StringMember(a, "sweep_name");
    t.AddRow({StringMember(a, "trial_id"), tags.empty() ? "-" : tags,
              sweep.empty() ? StringMember(a, "sweep_id") : sweep, StringMember(a, "method", "-"),
              StringMember(a, "base_model", "-"), FormatFixed(Member(a, "eval_loss"), 4),
              FormatMb(Member(a, "adapter_bytes"))});
  }
  return t;
}

Table WorkersTable(const Json& workers) {
  Table t({{"worker"},
           {"rank", Align::kRight},
           {"host"},
           {"device"},
           {"memory", Align::kRight},
           {"state"},
           {"trial"},
           {"step", Align::kRight},
           {"tok/s", Align::kRight},
           {"heartbeat", Align::kRight},
           {"connected", Align::kRight}});
  if (!workers.is_array()) return t;
  for (const Json& w : workers) {
    const Json& memory = Member(w, "memory_bytes");
    const std::string trial = StringMember(w, "trial");
    // A pack: its first trial (whose step is shown) and how many train beside it.
    const Json& held = Member(w, "trials");
    const size_t packed = held.is_array() && held.size() > 1 ? held.size() - 1 : 0;
    t.AddRow({StringMember(w, "id"), FormatInt(Member(w, "rank")), StringMember(w, "host"),
              StringMember(w, "device"),
              memory.is_number() ? FormatBytes(memory.get<double>()) : "-",
              StringMember(w, "state"),
              trial.empty() ? "-"
              : packed > 0  ? trial + " +" + std::to_string(packed) + " packed"
                            : trial,
              trial.empty() ? "-" : FormatInt(Member(w, "step")),
              trial.empty() ? "-" : FormatFixed(Member(w, "tokens_per_s"), 0),
              SecondsAgo(Member(w, "last_heartbeat_s")),
              FormatDuration(NumberMember(w, "connected_s", -1))});
  }
  return t;
}

std::vector<std::string> ExtraParamKeys(const Json& rows) {
  static const std::set<std::string> kShown = {"method", "lora.r", "lora.alpha", "train.lr"};
  std::set<std::string> keys;
  if (rows.is_array()) {
    for (const Json& row : rows) {
      const Json& params = Member(row, "params");
      if (!params.is_object()) continue;
      for (const auto& [key, value] : params.items()) {
        if (!kShown.count(key)) keys.insert(key);
      }
    }
  }
  return {keys.begin(), keys.end()};
}

namespace {

bool AnyNumber(const Json& rows, std::string_view key) {
  if (!rows.is_array()) return false;
  return std::any_of(rows.begin(), rows.end(),
                     [&](const Json& row) { return Member(row, key).is_number(); });
}

// A cell of the terminal table, formatted as the column's format says (jobs::CompareColumn).
std::string CompareCell(const jobs::CompareColumn& column, const Json& row) {
  const Json& v = Member(row, column.key);
  const std::string_view f = column.format;
  if (f == "text") return v.is_string() ? v.get<std::string>() : "-";
  if (f == "int") return FormatInt(v);
  if (f == "fixed2") return FormatFixed(v, 2);
  if (f == "fixed4") return FormatFixed(v, 4);
  if (!v.is_number() && !v.is_boolean()) return "-";
  if (f == "bytes") return FormatBytes(v.get<double>());
  if (f == "percent") return FormatFixed(v, 2) + "%";
  if (f == "duration") return FormatDuration(v.get<double>());
  if (f == "ratio") return FormatFixed(v, 2) + "x";
  if (f == "check") return v.is_boolean() && v.get<bool>() ? "yes" : "";
  if (f == "signed4") {  // + is general loss the adapter added, - what it improved
    return (v.get<double>() > 0 ? "+" : "") + FormatFixed(v, 4);
  }
  return FormatNumber(v);
}

}  // namespace

Table CompareTable(const Json& rows, bool raw) {
  const std::vector<std::string> extra = ExtraParamKeys(rows);
  std::vector<const jobs::CompareColumn*> shown;
  std::vector<Column> columns;
  for (const jobs::CompareColumn& c : jobs::CompareColumns()) {
    if (!raw && (!c.terminal || (c.when_present && !AnyNumber(rows, c.key)))) continue;
    shown.push_back(&c);
    const bool left = c.format == "text" || c.format == "check";
    columns.push_back({std::string(raw ? c.key : c.label), left ? Align::kLeft : Align::kRight});
  }
  for (const std::string& key : extra) columns.push_back({key});
  Table t(std::move(columns));
  if (!rows.is_array()) return t;
  // In the coordinator's order (jobs::Compare): best first.
  for (const Json& row : rows) {
    std::vector<std::string> cells;
    for (const jobs::CompareColumn* c : shown) {
      cells.push_back(raw ? Raw(Member(row, c->key)) : CompareCell(*c, row));
    }
    const Json& params = Member(row, "params");
    for (const std::string& key : extra) {
      const Json& v = Member(params, key);
      cells.push_back(raw ? Raw(v) : v.is_null() ? "-" : FormatValue(v));
    }
    t.AddRow(std::move(cells));
  }
  return t;
}

std::string FormatMetric(std::string_view name, double value) {
  char buf[48];
  if (!std::isfinite(value)) {
    std::snprintf(buf, sizeof(buf), "%g", value);
  } else if (name == "lr" || name.find("_lr") != std::string_view::npos) {
    std::snprintf(buf, sizeof(buf), "%g", value);
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", value);
  } else if (std::fabs(value) >= 1000) {
    std::snprintf(buf, sizeof(buf), "%.0f", value);
  } else {
    std::snprintf(buf, sizeof(buf), "%.4g", value);
  }
  return buf;
}

namespace {

// Where a metric goes in its line: the ones people look for first, then the rest by name.
std::pair<int, std::string_view> MetricRank(std::string_view name) {
  static constexpr std::string_view kFirst[] = {"loss", "eval_loss", "lr", "tokens_per_s"};
  for (int i = 0; i < 4; ++i) {
    if (name == kFirst[i]) return {i, name};
  }
  return {4, name};
}

}  // namespace

std::vector<std::string> MetricLines(const std::vector<MetricPoint>& points, bool with_trial) {
  // Groups by (trial, step) in order of first appearance.
  std::vector<std::vector<const MetricPoint*>> groups;
  std::map<std::pair<std::string_view, int64_t>, size_t> group_of;
  for (const MetricPoint& p : points) {
    auto [it, fresh] =
        group_of.emplace(std::make_pair(std::string_view(p.trial_id), p.step), groups.size());
    if (fresh) groups.emplace_back();
    groups[it->second].push_back(&p);
  }
  std::vector<std::string> out;
  out.reserve(groups.size());
  for (auto& group : groups) {
    std::stable_sort(group.begin(), group.end(), [](const MetricPoint* a, const MetricPoint* b) {
      return MetricRank(a->name) < MetricRank(b->name);
    });
    std::string line = with_trial ? group.front()->trial_id + " " : "";
    line += "step " + std::to_string(group.front()->step);
    for (const MetricPoint* p : group) {
      line += " " + (p->name == "tokens_per_s" ? std::string("tokens/s") : p->name) + " " +
              FormatMetric(p->name, p->value);
    }
    out.push_back(std::move(line));
  }
  return out;
}

std::string EventLine(const Json& event) {
  std::string line = FormatLocalTime(static_cast<int64_t>(NumberMember(event, "time_ms")));
  line += " " + StringMember(event, "actor", "-") + " " + StringMember(event, "kind", "-");
  std::string subject = StringMember(event, "trial_id");
  if (subject.empty()) subject = StringMember(event, "sweep_id");
  if (!subject.empty()) line += " " + subject;
  const std::string detail = StringMember(event, "detail");
  if (!detail.empty()) line += " " + detail;
  return line;
}

std::string ProgressBar(int64_t step, int64_t steps, int width) {
  const double done =
      steps > 0 ? std::clamp(static_cast<double>(step) / static_cast<double>(steps), 0.0, 1.0) : 0;
  const int filled = static_cast<int>(done * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(static_cast<size_t>(width), '.');
  return "[" + bar + "]";
}

std::vector<std::string> LiveLines(const Json& reply, const std::map<std::string, double>& loss,
                                   size_t width) {
  std::vector<std::string> lines;
  int64_t total = 0, completed = 0, failed = 0, running = 0, queued = 0, other = 0;
  const Json& trials = Member(reply, "trials");
  if (trials.is_array()) {
    for (const Json& tr : trials) {
      ++total;
      using S = jobs::TrialState;
      const std::optional<S> state = TrialStateOf(tr);
      if (state == S::kCompleted) {
        ++completed;
      } else if (state == S::kFailed) {
        ++failed;
      } else if (state == S::kQueued) {
        ++queued;
      } else if (state == S::kRunning || state == S::kAssigned) {
        ++running;
        const std::string id = StringMember(tr, "id");
        const auto step = static_cast<int64_t>(NumberMember(tr, "step"));
        const auto steps = static_cast<int64_t>(NumberMember(tr, "steps"));
        std::string line = "  " + ShortTrialId(id) + " " +
                           std::string(jobs::TrialStateName(*state)) + " " +
                           ProgressBar(step, steps, 20) + " " + std::to_string(step) + "/" +
                           std::to_string(steps);
        auto it = loss.find(id);
        if (it != loss.end()) line += " loss " + FormatMetric("loss", it->second);
        const std::string params = FormatParams(Member(tr, "params"));
        if (!params.empty()) line += "  " + params;
        lines.push_back(width > 0 ? Truncate(line, width) : line);
      } else {
        ++other;
      }
    }
  }
  std::string summary = std::to_string(completed) + "/" + std::to_string(total) + " completed, " +
                        std::to_string(failed) + " failed, " + std::to_string(running) +
                        " running, " + std::to_string(queued) + " queued";
  if (other > 0) summary += ", " + std::to_string(other) + " cancelled or stopped";
  summary += " (sweep " + StringMember(Member(reply, "sweep"), "state", "?") + ")";
  lines.push_back(width > 0 ? Truncate(summary, width) : summary);
  return lines;
}

std::string TransitionLine(const Json& trial, std::string_view old_state) {
  const std::string state = StringMember(trial, "state");
  std::string line = FormatLocalTime(static_cast<int64_t>(NumberMember(trial, "updated_ms"))) +
                     " trial " + StringMember(trial, "id") + " " +
                     (old_state.empty() ? std::string("is") : std::string(old_state) + " ->") +
                     " " + state;
  const Json& attempt = Member(trial, "attempt");
  if (attempt.is_number() && attempt.get<double>() > 0)
    line += " (attempt " + FormatInt(attempt) + ")";
  using S = jobs::TrialState;
  const std::optional<S> parsed = TrialStateOf(trial);
  const std::string worker = StringMember(trial, "worker");
  if (!worker.empty() && (parsed == S::kAssigned || parsed == S::kRunning)) line += " on " + worker;
  const std::string error = StringMember(trial, "last_error");
  if (!error.empty() && (parsed == S::kFailed || parsed == S::kQueued)) line += ": " + error;
  return line;
}

Table RepeatsTable(const Json& repeats) {
  Table t({{"configuration"}, {"n", Align::kRight}, {"eval loss", Align::kRight},
           {"95% interval", Align::kRight}, {"vs best"}});
  for (const Json& g : repeats.is_array() ? repeats : Json::array()) {
    std::string config;
    const Json& params = Member(g, "params");
    if (params.is_object()) {
      for (const auto& [key, value] : params.items()) {
        config += (config.empty() ? "" : " ") + key + "=" +
                  (value.is_string() ? value.get<std::string>() : value.dump());
      }
    }
    const Json& loss = Member(g, "eval_loss");
    std::string interval = "-";
    if (loss.is_object() && Member(loss, "low").is_number()) {
      interval = "[" + FormatFixed(Member(loss, "low"), 4) + ", " +
                 FormatFixed(Member(loss, "high"), 4) + "]";
    }
    const std::string versus = StringMember(g, "versus_best", "unknown");
    t.AddRow({config.empty() ? "(the base job)" : config, FormatInt(Member(g, "n")),
              loss.is_object() ? FormatFixed(Member(loss, "mean"), 4) : "-", interval,
              versus == "indistinct" ? "not distinguishable" : versus == "unknown" ? "-" : versus});
  }
  return t;
}

}  // namespace lf::cli
