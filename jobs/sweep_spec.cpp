#include "jobs/sweep_spec.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include "jobs/random.h"
#include "jobs/sweep_search.h"

namespace lf::jobs {
namespace {

using Kind = SearchAxis::Kind;

// Int axes keep their bounds in doubles; beyond 2^53 they would silently round.
constexpr int64_t kMaxIntBound = int64_t{1} << 53;

constexpr std::string_view kOutputMessage =
    "the coordinator chooses trial output folders; remove this key";

Json Sample(const SearchAxis& axis, SplitMix64& rng) {
  switch (axis.kind) {
    case Kind::kGrid:
    case Kind::kChoice:
      return axis.values[rng.NextBelow(axis.values.size())];
    case Kind::kUniform:
      return std::clamp(axis.low + rng.NextUnit() * (axis.high - axis.low), axis.low, axis.high);
    case Kind::kLogUniform: {
      double lo = std::log(axis.low), hi = std::log(axis.high);
      return std::clamp(std::exp(lo + rng.NextUnit() * (hi - lo)), axis.low, axis.high);
    }
    case Kind::kInt: {
      auto low = static_cast<int64_t>(axis.low), high = static_cast<int64_t>(axis.high);
      return low + static_cast<int64_t>(rng.NextBelow(static_cast<uint64_t>(high - low) + 1));
    }
  }
  return nullptr;
}

// Indexed by Kind; the names are the distribution keys of the document.
constexpr std::string_view kKindNames[] = {"grid", "choice", "uniform", "loguniform", "int"};
std::string_view KindName(Kind kind) { return kKindNames[static_cast<size_t>(kind)]; }

Json AxisToJson(const SearchAxis& axis) {
  switch (axis.kind) {
    case Kind::kGrid:
      return Json(axis.values);
    case Kind::kChoice:
      return {{"choice", axis.values}};
    case Kind::kInt:
      return {{"int", {static_cast<int64_t>(axis.low), static_cast<int64_t>(axis.high)}}};
    case Kind::kUniform:
    case Kind::kLogUniform:
      return {{std::string(KindName(axis.kind)), {axis.low, axis.high}}};
  }
  return nullptr;
}

Result<SearchAxis> ParseAxis(const std::string& key, const JsonField& f) {
  SearchAxis axis;
  axis.key = key;
  if (f.json().is_array()) {
    if (f.json().empty()) return f.Error("an empty list; give at least one value");
    axis.values = f.json().get<std::vector<Json>>();
    return axis;
  }
  if (!f.IsObject()) {
    return f.Error(
        "expected a list of values, or one of {uniform|loguniform|int|choice: ...}, got " +
        DescribeJsonValue(f.json()));
  }
  LF_RETURN_IF_ERROR(f.CheckKeys({"uniform", "loguniform", "int", "choice"}));
  if (f.json().size() != 1) return f.Error("give exactly one of uniform, loguniform, int, choice");
  LF_ASSIGN_OR_RETURN(auto members, f.Members());
  const auto& [name, m] = members.front();
  LF_ASSIGN_OR_RETURN(std::vector<JsonField> elements, m.Elements());
  if (name == "choice") {
    if (elements.empty()) return m.Error("an empty list; give at least one value");
    axis.kind = Kind::kChoice;
    axis.values = m.json().get<std::vector<Json>>();
    return axis;
  }
  if (elements.size() != 2) {
    return m.Error("expected [low, high], got a list of " + std::to_string(elements.size()));
  }
  if (name == "int") {
    axis.kind = Kind::kInt;
    LF_ASSIGN_OR_RETURN(int64_t low, elements[0].Int({.min = -kMaxIntBound, .max = kMaxIntBound}));
    LF_ASSIGN_OR_RETURN(int64_t high, elements[1].Int({.min = -kMaxIntBound, .max = kMaxIntBound}));
    axis.low = static_cast<double>(low);
    axis.high = static_cast<double>(high);
  } else {
    axis.kind = name == "uniform" ? Kind::kUniform : Kind::kLogUniform;
    NumberBounds bounds;
    if (axis.kind == Kind::kLogUniform) bounds = {.min = 0, .exclusive_min = true};
    LF_ASSIGN_OR_RETURN(axis.low, elements[0].Number(bounds));
    LF_ASSIGN_OR_RETURN(axis.high, elements[1].Number(bounds));
  }
  if (!(axis.low < axis.high)) {
    return m.Error("low (" + DescribeJsonValue(elements[0].json()) + ") must be less than high (" +
                   DescribeJsonValue(elements[1].json()) + ")");
  }
  return axis;
}

Status CheckSpaceKey(const std::string& key, const JsonField& f) {
  if (key.empty() || key.front() == '.' || key.back() == '.' ||
      key.find("..") != std::string::npos) {
    return f.Error("expected a dotted key into the base job, such as lora.r or train.lr");
  }
  if (key == "output" || key.starts_with("output.")) return f.Error(kOutputMessage);
  return Status::Ok();
}

// A value substituted into the base job, and where it came from, to point errors there.
struct Substitution {
  const SearchAxis* axis;
  Json value;
  std::string value_path;  // "sweep.space.lora.r[2]", "sweep.space.train.lr.loguniform[0]"
};

// Sets a dotted key, adding missing objects on the way; a parent that is not an object is an error.
Status SetKey(Json* doc, const std::string& key, const Json& value, const FieldPath& base_path,
              const FieldPath& key_path) {
  Json* node = doc;
  FieldPath at = base_path;
  size_t start = 0;
  for (;;) {
    size_t dot = key.find('.', start);
    std::string segment = key.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!node->is_object() && !node->is_null()) {
      return FieldError(key_path.str(), "cannot set this key: " + at.str() + " is " +
                                            DescribeJsonValue(*node) + ", not a mapping");
    }
    at = at.Key(segment);
    node = &(*node)[segment];  // a null node becomes an object here
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  *node = value;
  return Status::Ok();
}

// `path` is `key` or lies inside it ("lora.r", "lora.target_modules[1]").
bool IsWithin(std::string_view path, std::string_view key) {
  return path.starts_with(key) &&
         (path.size() == key.size() || path[key.size()] == '.' || path[key.size()] == '[');
}

// An unknown key that the user wrote as (part of) a space key: the job parser's suggestion is a
// single name, so turn it into the dotted key the user should write ("rr" -> "lora.r").
std::string UnknownSpaceKeyMessage(const std::string& path, const std::string& key,
                                   std::string what) {
  size_t leaf = path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1;
  constexpr std::string_view kOpen = "(did you mean '";
  size_t open = what.find(kOpen);
  size_t close = open == std::string::npos ? open : what.find("'?)", open + kOpen.size());
  if (close != std::string::npos) {
    size_t begin = open + kOpen.size();
    std::string suggestion =
        key.substr(0, leaf) + what.substr(begin, close - begin) + key.substr(path.size());
    what.replace(begin, close - begin, suggestion);
  }
  if (path != key) {
    what.insert(std::string_view("unknown key").size(), " '" + path.substr(leaf) + "'");
  }
  return what;
}

std::string Hint(const SearchAxis& axis, std::string_view what) {
  if (axis.kind == Kind::kGrid && what.starts_with("expected a list")) {
    return "; in space, a list holds the values to try, so a list value goes inside another list, "
           "e.g. [[a, b], [c]]";
  }
  if ((axis.kind == Kind::kUniform || axis.kind == Kind::kLogUniform) &&
      what.find("integer") != std::string_view::npos) {
    return "; sample integers with {int: [low, high]}";
  }
  return "";
}

// Rewrites an error of the job parser about a substituted job so it points where the user can fix
// it: errors at a swept key point at the space entry that supplied the value; others stay at the
// base job, followed by `context` (which substitution or trial caused them). `varied` (an index
// into subs) is the substitution `context` describes, so errors at it need no context.
Status Attribute(const Status& error, const std::string& base_root, const FieldPath& space_path,
                 const std::vector<Substitution>& subs, std::string_view context,
                 std::optional<size_t> varied = std::nullopt) {
  const std::string& m = error.message();
  const std::string& field = error.field();
  auto unchanged = [&] {
    return Status(error.code(), m + std::string(context)).WithField(field);
  };
  if (field.empty() || !IsWithin(field, base_root) || !m.starts_with(field + ": ")) {
    return unchanged();
  }
  const std::string path = field.substr(std::min(field.size(), base_root.size() + 1));
  const std::string what = m.substr(field.size() + 2);
  for (size_t i = 0; i < subs.size(); ++i) {
    const std::string& key = subs[i].axis->key;
    bool at_key = IsWithin(path, key);
    if (what.starts_with("unknown key") &&
        (path == key || (!path.empty() && key.starts_with(path + ".")))) {
      return FieldError(space_path.Key(key).str(), UnknownSpaceKeyMessage(path, key, what));
    }
    if (at_key) {
      std::string hint = path == key ? Hint(*subs[i].axis, what) : "";
      return FieldError(subs[i].value_path + path.substr(key.size()),
                        what + hint + std::string(varied == i ? "" : context));
    }
  }
  return unchanged();
}

// The values checked when the sweep is parsed: every listed value, both ends of a range, and a
// point inside a continuous range (which catches a uniform range over an integer key).
std::vector<std::pair<Json, std::string>> CheckPoints(const SearchAxis& axis,
                                                      const FieldPath& key_path) {
  std::vector<std::pair<Json, std::string>> out;
  const FieldPath at = axis.kind == Kind::kGrid ? key_path : key_path.Key(KindName(axis.kind));
  if (axis.kind == Kind::kGrid || axis.kind == Kind::kChoice) {
    for (size_t i = 0; i < axis.values.size(); ++i) {
      out.emplace_back(axis.values[i], at.Index(i).str());
    }
  } else if (axis.kind == Kind::kInt) {
    out.emplace_back(static_cast<int64_t>(axis.low), at.Index(0).str());
    out.emplace_back(static_cast<int64_t>(axis.high), at.Index(1).str());
  } else {
    // An irrational fraction of the way, so the point is not an integer for integer bounds.
    constexpr double kInside = 0.3819660112501051;
    double inside =
        axis.kind == Kind::kUniform
            ? axis.low + kInside * (axis.high - axis.low)
            : std::exp(std::log(axis.low) + kInside * (std::log(axis.high) - std::log(axis.low)));
    out.emplace_back(axis.low, at.Index(0).str());
    out.emplace_back(inside, at.str());
    out.emplace_back(axis.high, at.Index(1).str());
  }
  return out;
}

// Parses the base job with a set of substituted values; errors re-rooted by Attribute.
Result<JobSpec> ParseSubstituted(const SweepSpec& spec, const std::vector<Substitution>& subs,
                                 const FieldPath& root, std::string_view context,
                                 std::optional<size_t> varied = std::nullopt) {
  const FieldPath base_path = root.Key("base"), space_path = root.Key("space");
  Json doc = spec.base;
  for (const Substitution& s : subs) {
    LF_RETURN_IF_ERROR(SetKey(&doc, s.axis->key, s.value, base_path, space_path.Key(s.axis->key)));
  }
  Result<JobSpec> job = ParseJobSpec(doc, base_path.str());
  if (!job.ok()) return Attribute(job.status(), base_path.str(), space_path, subs, context, varied);
  return job;
}

// Checks the base job with every check point of every axis, the others held at their first one;
// `first` gets the job with every axis at its first point.
Status CheckValues(const SweepSpec& spec, const FieldPath& root, JobSpec* first) {
  const FieldPath space_path = root.Key("space");
  std::vector<std::vector<std::pair<Json, std::string>>> points;
  std::vector<Substitution> firsts;
  for (const SearchAxis& axis : spec.space) {
    points.push_back(CheckPoints(axis, space_path.Key(axis.key)));
    firsts.push_back({&axis, points.back().front().first, points.back().front().second});
  }
  LF_ASSIGN_OR_RETURN(*first, ParseSubstituted(spec, firsts, root, ""));
  for (size_t a = 0; a < spec.space.size(); ++a) {
    for (size_t i = 1; i < points[a].size(); ++i) {
      std::vector<Substitution> subs = firsts;
      subs[a].value = points[a][i].first;
      subs[a].value_path = points[a][i].second;
      std::string context =
          " (with " + subs[a].value_path + " = " + DescribeJsonValue(subs[a].value) + ")";
      LF_RETURN_IF_ERROR(ParseSubstituted(spec, subs, root, context, a));
    }
  }
  return Status::Ok();
}

Status ParseSpace(const JsonField& f, SweepSpec* spec) {
  LF_ASSIGN_OR_RETURN(auto members, f.Members());
  if (members.empty()) {
    return f.Error("empty; remove it to run the base job once, or give at least one key");
  }
  for (const auto& [key, value] : members) {
    LF_RETURN_IF_ERROR(CheckSpaceKey(key, value));
    LF_ASSIGN_OR_RETURN(SearchAxis axis, ParseAxis(key, value));
    spec->space.push_back(std::move(axis));
  }
  // Setting both a key and a key inside it would make one silently overwrite the other.
  for (const SearchAxis& outer : spec->space) {
    for (const SearchAxis& inner : spec->space) {
      if (inner.key.starts_with(outer.key + ".")) {
        return JsonField(f.json().at(inner.key), f.path().Key(inner.key))
            .Error("lies inside " + f.path().Key(outer.key).str() +
                   "; sweep a key or keys inside it, not both");
      }
    }
  }
  return Status::Ok();
}

Status ParseResources(const JsonField& f, ResourceSpec* r) {
  LF_RETURN_IF_ERROR(f.CheckKeys({"gpus", "memory"}));
  LF_ASSIGN_OR_RETURN(r->gpus, f.IntOr("gpus", r->gpus, {.min = 1}));
  if (auto memory = f.Optional("memory")) {
    LF_ASSIGN_OR_RETURN(r->memory_bytes, ParseByteSize(memory->json(), memory->path().str()));
  }
  return Status::Ok();
}

// Trial `index` of `spec` with `params` (a value per space key), the job parsed and checked;
// `repeat` > 0 (a grid's repeat) is added to the training seed unless the seed is swept.
Result<TrialSpec> BuildTrial(const SweepSpec& spec, uint32_t index, Json params, uint64_t repeat) {
  const FieldPath root("sweep"), space_path = root.Key("space");
  TrialSpec trial{.index = index, .params = std::move(params)};
  std::vector<Substitution> subs;
  for (const SearchAxis& axis : spec.space) {
    subs.push_back({&axis, trial.params.at(axis.key), space_path.Key(axis.key).str()});
  }
  const auto context = [&] {
    return " (trial " + std::to_string(index) + ": " + trial.params.dump() + ")";
  };
  Result<JobSpec> job = ParseSubstituted(spec, subs, root, "");
  if (!job.ok()) {  // parsed again to name the trial: a message only failures pay for
    return ParseSubstituted(spec, subs, root, context()).status();
  }
  trial.job = std::move(job).value();
  if (spec.early_stopping) {
    Status st = CheckAshaForJob(*spec.early_stopping, trial.job, root.Key("early_stopping"),
                                root.Key("base").str());
    if (!st.ok()) return Status(st.code(), st.message() + context()).WithField(st.field());
  }
  const bool seed_swept = std::any_of(spec.space.begin(), spec.space.end(),
                                      [](const SearchAxis& a) { return a.key == "train.seed"; });
  if (repeat > 0 && !seed_swept) {
    // The stored job's seed must stay an int64 (ParseJobSpec reads it back as one).
    if (trial.job.train.seed > uint64_t{std::numeric_limits<int64_t>::max()} - repeat) {
      return FieldError(root.str() + ".base.train.seed", "too large to add repeat offsets");
    }
    trial.job.train.seed += repeat;
  }
  return trial;
}

}  // namespace

Json RandomParams(const SweepSpec& spec, uint32_t index) {
  SplitMix64 rng = TrialRng(spec.seed, index);
  Json params = Json::object();
  for (const SearchAxis& axis : spec.space) params[axis.key] = Sample(axis, rng);
  return params;
}

Result<TrialSpec> MakeTrial(const SweepSpec& spec, uint32_t index, const Json& params) {
  if (!params.is_object() || params.size() != spec.space.size() ||
      std::any_of(spec.space.begin(), spec.space.end(),
                  [&](const SearchAxis& a) { return !params.contains(a.key); })) {
    return InvalidArgument("trial " + std::to_string(index) + ": " + params.dump() +
                           " does not give exactly one value per space key");
  }
  return BuildTrial(spec, index, params, 0);
}

Result<SweepSpec> ParseSweepSpec(const Json& doc, std::string_view root_name) {
  const FieldPath root(std::string{root_name});
  JsonField f(doc, root);
  if (!doc.is_object()) {
    return f.Error("expected a sweep (a mapping), got " + DescribeJsonValue(doc));
  }
  LF_RETURN_IF_ERROR(
      f.CheckKeys({"name", "base", "space", "search", "seed", "num_samples", "priority",
                   "max_retries", "max_concurrent", "resources", "early_stopping", "objectives",
                   "tpe", "pbt"}));
  SweepSpec spec;
  LF_ASSIGN_OR_RETURN(spec.name, f.StringOr("name", ""));
  LF_ASSIGN_OR_RETURN(JsonField base, f.Required("base"));
  if (!base.IsObject()) {
    return base.Error("expected a job (a mapping), got " + DescribeJsonValue(base.json()));
  }
  if (base.Has("output")) return base.Required("output")->Error(kOutputMessage);
  spec.base = base.json();
  if (auto space = f.Optional("space")) LF_RETURN_IF_ERROR(ParseSpace(*space, &spec));
  LF_ASSIGN_OR_RETURN(spec.search, f.StringOr("search", spec.search));
  if (spec.search != "grid" && spec.search != "random" && !spec.adaptive()) {
    return f.Required("search")->Error("expected grid, random, tpe, bohb or pbt, got '" +
                                       spec.search + "'");
  }
  LF_ASSIGN_OR_RETURN(int64_t seed, f.IntOr("seed", 0, {.min = 0}));
  spec.seed = static_cast<uint64_t>(seed);
  LF_ASSIGN_OR_RETURN(spec.num_samples, f.IntOr("num_samples", spec.num_samples, {.min = 1}));
  constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  LF_ASSIGN_OR_RETURN(int64_t priority,
                      f.IntOr("priority", 0, {.min = kInt32Min, .max = kInt32Max}));
  spec.priority = static_cast<int32_t>(priority);
  LF_ASSIGN_OR_RETURN(int64_t retries,
                      f.IntOr("max_retries", spec.max_retries, {.min = 0, .max = 100}));
  spec.max_retries = static_cast<int32_t>(retries);
  LF_ASSIGN_OR_RETURN(int64_t concurrent,
                      f.IntOr("max_concurrent", 0, {.min = 0, .max = kInt32Max}));
  spec.max_concurrent = static_cast<int32_t>(concurrent);
  if (auto resources = f.Optional("resources")) {
    LF_RETURN_IF_ERROR(ParseResources(*resources, &spec.resources));
  }
  if (auto early = f.Optional("early_stopping")) {
    LF_ASSIGN_OR_RETURN(spec.early_stopping, ParseAshaConfig(*early));
  }
  if (auto objectives = f.Optional("objectives")) {
    LF_ASSIGN_OR_RETURN(spec.objectives, ParseObjectives(*objectives));
  }
  if (auto tpe = f.Optional("tpe")) {
    if (!spec.model_based()) return tpe->Error("only search: tpe and bohb read this block");
    LF_ASSIGN_OR_RETURN(spec.tpe, ParseTpeOptions(*tpe));
  }
  if (auto pbt = f.Optional("pbt")) {
    if (spec.search != "pbt") return pbt->Error("only search: pbt reads this block");
    LF_ASSIGN_OR_RETURN(spec.pbt, ParsePbtOptions(*pbt));
  }
  LF_RETURN_IF_ERROR(internal::CheckSearch(spec, f));
  JobSpec first;
  LF_RETURN_IF_ERROR(CheckValues(spec, root, &first));
  LF_RETURN_IF_ERROR(internal::CheckSearchForJob(spec, first, root));
  // The first trial's job here, so the common mistake (no eval_every) is reported at parse time;
  // ExpandSweep checks every trial.
  if (spec.early_stopping) {
    LF_RETURN_IF_ERROR(CheckAshaForJob(*spec.early_stopping, first, root.Key("early_stopping"),
                                       root.Key("base").str()));
  }
  return spec;
}

Result<std::vector<TrialSpec>> ExpandSweep(const SweepSpec& spec, size_t max_trials,
                                           size_t max_bytes) {
  LF_RETURN_IF_ERROR(ParseSweepSpec(SweepSpecToJson(spec)));  // a spec built in code is unchecked
  const FieldPath root("sweep");
  const bool grid = spec.search == "grid";
  const uint64_t limit = std::min<uint64_t>(max_trials, std::numeric_limits<uint32_t>::max());
  // Counted in doubles: exact up to 2^53, far above any limit, and they cannot overflow.
  double grid_size = 1;
  for (const SearchAxis& axis : spec.space) {
    if (grid && axis.kind == Kind::kGrid) grid_size *= static_cast<double>(axis.values.size());
  }
  const auto samples = static_cast<double>(spec.num_samples);
  const double total = grid ? grid_size * samples : samples;
  if (total > static_cast<double>(limit)) {
    auto count = [](double n) {
      return n < 1e15 ? std::to_string(static_cast<int64_t>(n)) : Json(n).dump();
    };
    std::string how = grid
                          ? "a grid of " + count(grid_size) + " times num_samples " + count(samples)
                          : "num_samples " + count(samples);
    return FieldError(root.str(), count(total) + " trials (" + how +
                                      ") are more than the limit of " + std::to_string(limit) +
                                      "; shrink the space or num_samples, or split the sweep");
  }
  double trial_bytes = static_cast<double>(spec.base.dump().size());
  for (const SearchAxis& axis : spec.space) {
    size_t largest = 24;  // a number
    for (const Json& v : axis.values) largest = std::max(largest, v.dump().size());
    trial_bytes += static_cast<double>(largest + axis.key.size());
  }
  if (total * trial_bytes > static_cast<double>(max_bytes)) {
    const auto kib = [](double n) { return std::to_string(static_cast<int64_t>(n / 1024)) + " KiB"; };
    return FieldError(root.str(), std::to_string(static_cast<int64_t>(total)) + " trials of about " +
                                      std::to_string(static_cast<int64_t>(trial_bytes)) +
                                      " bytes each make about " + kib(total * trial_bytes) +
                                      " of job documents, more than the limit of " +
                                      kib(static_cast<double>(max_bytes)) +
                                      "; shrink the base job's values or split the sweep");
  }
  // An adaptive search makes the rest of its trials while it runs (MakeTrial).
  const uint64_t made =
      !spec.adaptive()       ? static_cast<uint64_t>(total)
      : spec.search == "pbt" ? static_cast<uint64_t>(spec.num_samples)
                             : static_cast<uint64_t>(std::clamp<int64_t>(
                                   spec.tpe.n_startup_trials, 1, spec.num_samples));
  std::vector<TrialSpec> trials;
  trials.reserve(static_cast<size_t>(made));
  const auto grid_trials = static_cast<uint64_t>(grid_size);
  for (uint64_t t = 0; t < made; ++t) {
    const auto index = static_cast<uint32_t>(t);
    Json params = Json::object();
    if (grid) {
      SplitMix64 rng = TrialRng(spec.seed, index);
      // The grid position in mixed radix, the last axis varying fastest; then the repeat.
      uint64_t position = t % grid_trials;
      std::vector<size_t> grid_index(spec.space.size());
      for (size_t a = spec.space.size(); a-- > 0;) {
        if (spec.space[a].kind != Kind::kGrid) continue;
        grid_index[a] = position % spec.space[a].values.size();
        position /= spec.space[a].values.size();
      }
      for (size_t a = 0; a < spec.space.size(); ++a) {
        const SearchAxis& axis = spec.space[a];
        params[axis.key] =
            axis.kind == Kind::kGrid ? axis.values[grid_index[a]] : Sample(axis, rng);
      }
    } else {
      params = RandomParams(spec, index);
    }
    LF_ASSIGN_OR_RETURN(TrialSpec trial,
                        BuildTrial(spec, index, std::move(params), grid ? t / grid_trials : 0));
    trials.push_back(std::move(trial));
  }
  return trials;
}

Json SweepSpecToJson(const SweepSpec& spec) {
  Json out = {
      {"name", spec.name},
      {"base", spec.base},
      {"search", spec.search},
      {"seed", spec.seed},
      {"num_samples", spec.num_samples},
      {"priority", spec.priority},
      {"max_retries", spec.max_retries},
      {"max_concurrent", spec.max_concurrent},
      {"resources", {{"gpus", spec.resources.gpus}, {"memory", spec.resources.memory_bytes}}},
  };
  if (spec.early_stopping) out["early_stopping"] = AshaConfigToJson(*spec.early_stopping);
  if (!spec.objectives.empty()) out["objectives"] = ObjectivesToJson(spec.objectives);
  if (spec.model_based()) out["tpe"] = TpeOptionsToJson(spec.tpe);
  if (spec.search == "pbt") out["pbt"] = PbtOptionsToJson(spec.pbt);
  // No space is written as no key: an empty space is an error when parsed.
  if (!spec.space.empty()) {
    Json space = Json::object();
    for (const SearchAxis& axis : spec.space) space[axis.key] = AxisToJson(axis);
    out["space"] = std::move(space);
  }
  return out;
}

Result<int64_t> ParseByteSize(const Json& value, std::string_view path) {
  JsonField f(value, FieldPath(std::string(path)));
  if (value.is_number()) return f.Int({.min = 0});
  const std::string expected = "expected a size such as 512MiB, 8GiB or 2GB, or a number of bytes";
  if (!value.is_string()) return f.Error(expected + ", got " + DescribeJsonValue(value));
  const std::string& s = value.get_ref<const std::string&>();
  double number = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), number, std::chars_format::fixed);
  if (ec != std::errc() || number < 0) {
    return f.Error(expected + ", got " + DescribeJsonValue(value));
  }
  std::string unit(end, s.data() + s.size());
  unit.erase(0, unit.find_first_not_of(' '));
  unit.erase(unit.find_last_not_of(' ') + 1);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::vector<std::pair<std::string_view, double>> kUnits = {
      {"", 1},        {"b", 1},        {"k", 0x1p10},   {"ki", 0x1p10},  {"kib", 0x1p10},
      {"kb", 1e3},    {"m", 0x1p20},   {"mi", 0x1p20},  {"mib", 0x1p20}, {"mb", 1e6},
      {"g", 0x1p30},  {"gi", 0x1p30},  {"gib", 0x1p30}, {"gb", 1e9},     {"t", 0x1p40},
      {"ti", 0x1p40}, {"tib", 0x1p40}, {"tb", 1e12}};
  auto it =
      std::find_if(kUnits.begin(), kUnits.end(), [&](const auto& u) { return u.first == unit; });
  if (it == kUnits.end()) {
    return f.Error(
        "unknown unit in " + DescribeJsonValue(value) +
        "; use B, KiB, MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000)");
  }
  double bytes = number * it->second;
  if (it->second == 1 && std::trunc(number) != number) {
    return f.Error("expected a whole number of bytes, got " + DescribeJsonValue(value));
  }
  if (!(bytes < 0x1p63)) return f.Error("too large: " + DescribeJsonValue(value));
  return static_cast<int64_t>(std::llround(bytes));
}

// Where a job field came from: the space when the trial's value was swept, else the base job.
static std::string FieldFor(const TrialSpec& trial, const std::string& key) {
  return (trial.params.contains(key) ? "sweep.space." : "sweep.base.") + key;
}

// The files a job reads must exist where the workers will read them (the coordinator and local
// workers share a filesystem; see docs/operations.md for clusters).
Status CheckTrialFiles(const TrialSpec& trial, std::set<std::string>* checked) {
  const JobSpec& job = trial.job;
  struct Want {
    std::string key, path, what;
  };
  std::vector<Want> wants = {
      {"base_model", (std::filesystem::path(job.base_model) / "config.json").string(), "a model folder"},
      {"data.train", job.data.train, "a training data file"}};
  if (!job.data.eval.empty()) wants.push_back({"data.eval", job.data.eval, "an eval data file"});
  if (!job.data.general_eval.empty()) {
    wants.push_back({"data.general_eval", job.data.general_eval, "a general eval data file"});
  }
  if (!job.data.chat_template.empty()) {
    wants.push_back({"data.chat_template", job.data.chat_template, "a chat template file"});
  }
  for (const auto& w : wants) {
    if (!checked->insert(w.path).second) continue;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(w.path, ec)) {
      const std::string shown = w.key == "base_model" ? job.base_model : w.path;
      return FieldError(FieldFor(trial, w.key),
                        shown + " is not " + w.what +
                            (w.key == "base_model" ? " (no config.json)" : "") +
                            "; relative paths resolve against the directory `lorafleet submit` "
                            "ran in");
    }
  }
  return Status::Ok();
}


}  // namespace lf::jobs
