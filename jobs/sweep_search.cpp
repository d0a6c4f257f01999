#include "jobs/sweep_search.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "jobs/pbt.h"

namespace lf::jobs {
namespace internal {

Status CheckSearch(const SweepSpec& spec, const JsonField& f) {
  if (spec.search == "bohb" && !spec.early_stopping) {
    return f.Required("search")->Error(
        "bohb spreads trials over Hyperband brackets of the early stopping rungs; add an "
        "early_stopping block (type: asha), or use search: tpe");
  }
  if (spec.search == "pbt") {
    if (!f.Has("pbt")) {
      return f.Error(
          "search: pbt needs a pbt block, e.g. pbt: {perturbation_interval: 20, "
          "mutable: [train.lr]}");
    }
    if (spec.early_stopping) {
      return f.Required("early_stopping")
          ->Error("pbt decides itself which trials go on; remove early_stopping");
    }
    if (spec.objectives.size() > 1) {
      return f.Required("objectives")->Error("pbt ranks trials by one objective; name one");
    }
    const JsonField keys = *f.Required("pbt")->Required("mutable");
    for (size_t i = 0; i < spec.pbt.mutable_keys.size(); ++i) {
      const std::string& key = spec.pbt.mutable_keys[i];
      if (std::none_of(spec.space.begin(), spec.space.end(),
                       [&](const SearchAxis& a) { return a.key == key; })) {
        return FieldError(keys.path().Index(i).str(),
                          "'" + key + "' is not a key of the space; explore changes swept keys");
      }
      if (!PbtKeyIsMutable(key)) {
        return FieldError(keys.path().Index(i).str(),
                          "'" + key +
                              "' cannot change mid-run: exploit copies a checkpoint, "
                              "which must fit the new values; mutable keys are train.* settings "
                              "(not steps, seed, eval_every, checkpoint_every) and dropouts");
      }
    }
  }
  return Status::Ok();
}

// Its objectives are produced, and pbt's objective is reported (and checkpointed) at its interval.
Status CheckSearchForJob(const SweepSpec& spec, const JobSpec& job, const FieldPath& root) {
  const bool stated = !spec.objectives.empty();
  for (const Objective& o : SearchObjectives(spec, job)) {
    const std::string path = stated ? root.Key("objectives").Key(o.name).str() : root.str();
    LF_RETURN_IF_ERROR(CheckObjectiveForJob(o, job, path));
  }
  if (spec.search != "pbt") return Status::Ok();
  const int64_t interval = spec.pbt.perturbation_interval;
  const std::string interval_path = root.Key("pbt").Key("perturbation_interval").str();
  const Objective objective = SearchObjectives(spec, job).front();
  if (objective.name != "eval_loss" && objective.name != "loss") {
    return FieldError(root.Key("objectives").Key(objective.name).str(),
                      "pbt compares trials while they train: its objective must be eval_loss or "
                      "loss");
  }
  if (objective.name == "eval_loss" &&
      (job.train.eval_every <= 0 || interval % job.train.eval_every != 0)) {
    return FieldError(interval_path, "eval_loss is reported every train.eval_every (" +
                                         std::to_string(job.train.eval_every) +
                                         ") steps; make perturbation_interval a multiple of it");
  }
  if (job.train.checkpoint_every <= 0 || interval % job.train.checkpoint_every != 0) {
    return FieldError(interval_path,
                      "exploit copies checkpoints: set base.train.checkpoint_every to the "
                      "interval (or a divisor of it); it is " +
                          std::to_string(job.train.checkpoint_every));
  }
  if (interval >= job.train.steps) {
    return FieldError(interval_path, "the interval (" + std::to_string(interval) +
                                         ") must be shorter than train.steps (" +
                                         std::to_string(job.train.steps) + ")");
  }
  return Status::Ok();
}

}  // namespace internal

int64_t PlannedTrials(const SweepSpec& spec) {
  if (spec.search != "grid") return spec.num_samples;
  double grid = 1;
  for (const SearchAxis& axis : spec.space) {
    if (axis.kind == SearchAxis::Kind::kGrid) grid *= static_cast<double>(axis.values.size());
  }
  return static_cast<int64_t>(std::min(grid * static_cast<double>(spec.num_samples), 0x1p62));
}

std::vector<Objective> SearchObjectives(const SweepSpec& spec, const JobSpec& job) {
  if (!spec.objectives.empty()) return spec.objectives;
  if (spec.early_stopping &&
      (spec.early_stopping->metric == "eval_loss" || spec.early_stopping->metric == "loss")) {
    return {{.name = spec.early_stopping->metric, .mode = spec.early_stopping->mode}};
  }
  return {{.name = job.data.eval.empty() ? "loss" : "eval_loss", .mode = "min"}};
}

void ResolveSweepPaths(SweepSpec* spec, std::string_view base_dir) {
  // The keys ResolveJobPaths resolves (jobs/job_spec.cpp), as dotted paths into the job document.
  static const std::set<std::string> kPathKeys = {"base_model", "data.train", "data.eval",
                                                  "data.general_eval", "data.chat_template"};
  const auto resolve = [&](Json& value) {
    if (!value.is_string() || value.get_ref<const std::string&>().empty()) return;
    std::filesystem::path p(value.get<std::string>());
    if (!p.is_absolute()) value = (std::filesystem::path(base_dir) / p).lexically_normal().string();
  };
  for (const std::string& key : kPathKeys) {
    Json* node = &spec->base;
    size_t start = 0;
    for (;;) {
      const size_t dot = key.find('.', start);
      const std::string segment = key.substr(start, dot == std::string::npos ? dot : dot - start);
      if (!node->is_object() || !node->contains(segment)) {
        node = nullptr;
        break;
      }
      node = &(*node)[segment];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (node != nullptr) resolve(*node);
  }
  for (SearchAxis& axis : spec->space) {
    if (!kPathKeys.contains(axis.key)) continue;
    for (Json& v : axis.values) resolve(v);
  }
}

}  // namespace lf::jobs
