// `submit SWEEP.yaml [--wait]`, `compare SWEEP` and `export TRIAL DIR`: a sweep's way in, its
// results, and an adapter's way out.
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/commands/command_flags.h"
#include "cli/commands/commands.h"
#include "cli/commands/plot.h"
#include "cli/commands/process.h"
#include "cli/commands/remote.h"
#include "cli/commands/sweep_watch.h"
#include "cli/commands/table.h"
#include "cli/commands/views.h"
#include "common/file_util.h"
#include "common/http_client.h"
#include "common/sha256.h"
#include "common/yaml.h"
#include "jobs/serving.h"
#include "jobs/sweep_spec.h"
#include "jobs/tpe.h"

namespace lf::cli {
namespace {

// An SVG as FILE.svg, or as FILE.png through rsvg-convert (Debian's librsvg2-bin).
Status WritePlot(const std::string& path, const std::string& svg) {
  const auto ends_with = [&](const char* ext) {
    return path.size() > std::strlen(ext) &&
           path.compare(path.size() - std::strlen(ext), std::strlen(ext), ext) == 0;
  };
  if (ends_with(".svg")) return WriteFileAtomically(path, svg);
  if (!ends_with(".png")) {
    return InvalidArgument("--plot " + path + ": the file must end in .svg or .png");
  }
  std::optional<std::string> rsvg = FindOnPath("rsvg-convert");
  if (!rsvg) {
    return NotFound("--plot " + path + ": PNG needs rsvg-convert (apt-get install librsvg2-bin, "
                    "which `make deps` does); or write .svg");
  }
  const std::string tmp = path + ".tmp.svg";
  LF_RETURN_IF_ERROR(WriteFileAtomically(tmp, svg));
  const pid_t child = ::fork();
  if (child == 0) {
    ::execl(rsvg->c_str(), rsvg->c_str(), "-o", path.c_str(), tmp.c_str(), nullptr);
    ::_exit(127);
  }
  int status = 0;
  const bool ran = child > 0 && ::waitpid(child, &status, 0) == child;
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (!ran || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Internal("--plot " + path + ": rsvg-convert failed (exit status " +
                    std::to_string(WEXITSTATUS(status)) + ")");
  }
  return Status::Ok();
}


// lineage.json beside the exported files: where the adapter came from, gathered from the trial's
// result.json (base model hashes, data hashes, the resolved job with its seed, the lorafleet
// version, the checkpoint it resumed from).
Status WriteLineage(const std::string& result_json, const std::string& trial, const std::string& dir) {
  LF_ASSIGN_OR_RETURN(Json result, ParseJson(result_json, "result.json of " + trial));
  const Json lineage = result.value("lineage", Json::object());
  const Json job = result.value("job", Json::object());
  Json out = {{"trial", trial},
              {"lorafleet_version", result.value("lorafleet_version", Json(nullptr))},
              {"base_model", lineage.value("base_model", Json(nullptr))},
              {"data", result.value("data", Json::array())},
              {"seed", job.value(Json::json_pointer("/train/seed"), Json(nullptr))},
              {"resumed_from", lineage.value("resumed_from", Json(nullptr))},
              {"job", job}};
  return WriteFileAtomically((std::filesystem::path(dir) / "lineage.json").string(),
                             out.dump(2) + "\n");
}


std::string CurrentUser() {
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "uid " + std::to_string(::geteuid());
}

// A file name the coordinator lists must be a plain name: it is joined to the user's folder.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

// `submit --dry-run`: what the coordinator would check (the document, its expansion, the files
// each trial reads, from this folder) and the trials it would queue, without one.
int DryRun(const std::string& path, const std::string& text, const std::string& base_dir,
           bool json) {
  const auto refuse = [&](const Status& st) {
    return ReportFailure("submit", st.code() == StatusCode::kInvalidArgument ? st.WithContext(path)
                                                                             : st);
  };
  Result<Json> doc = ParseYaml(text, path);
  if (!doc.ok()) return refuse(doc.status());
  Result<jobs::SweepSpec> spec = jobs::ParseSweepSpec(*doc, "sweep");
  if (!spec.ok()) return refuse(spec.status());
  Result<std::vector<jobs::TrialSpec>> trials = jobs::ExpandSweep(*spec);
  if (!trials.ok()) return refuse(trials.status());
  std::set<std::string> checked;
  for (jobs::TrialSpec& trial : *trials) {
    jobs::ResolveJobPaths(&trial.job, base_dir);
    if (Status st = jobs::CheckTrialFiles(trial, &checked); !st.ok()) return refuse(st);
  }
  // A model-based search's next suggestions, as the sampler would make them before any result
  // (with the trials above still running): what the first freed workers get.
  const size_t made = trials->size();
  if (spec->model_based() && !trials->empty()) {
    const std::vector<jobs::Objective> objectives =
        jobs::SearchObjectives(*spec, trials->front().job);
    std::vector<jobs::TpeObservation> running;
    for (const jobs::TrialSpec& t : *trials) running.push_back({.index = t.index, .params = t.params});
    constexpr size_t kShown = 5;
    for (size_t i = made; i < static_cast<size_t>(spec->num_samples) && i < made + kShown; ++i) {
      const auto index = static_cast<uint32_t>(i);
      Result<jobs::TrialSpec> next =
          jobs::MakeTrial(*spec, index, jobs::SuggestTpe(*spec, objectives, running, index));
      if (!next.ok()) return refuse(next.status());
      running.push_back({.index = index, .params = next->params});
      trials->push_back(std::move(next).value());
    }
  }
  if (json) {
    Json list = Json::array();
    for (const jobs::TrialSpec& t : *trials) {
      list.push_back({{"index", t.index}, {"params", t.params}, {"job", jobs::JobSpecToJson(t.job)}});
    }
    PrintJson({{"sweep", jobs::SweepSpecToJson(*spec)},
               {"trials", std::move(list)},
               {"made_at_submission", made},
               {"planned_trials", jobs::PlannedTrials(*spec)}});
    return 0;
  }
  std::vector<std::string> keys;
  for (const jobs::SearchAxis& axis : spec->space) keys.push_back(axis.key);
  std::vector<Column> columns = {{"#", Align::kRight}, {"method"}};
  for (const std::string& key : keys) columns.push_back({key});
  Table table(columns);
  for (const jobs::TrialSpec& t : *trials) {
    std::vector<std::string> row = {std::to_string(t.index),
                                    std::string(jobs::MethodName(t.job.method))};
    for (const std::string& key : keys) {
      const Json& v = t.params.contains(key) ? t.params.at(key) : Json();
      row.push_back(v.is_string() ? v.get<std::string>() : v.dump());
    }
    table.AddRow(std::move(row));
  }
  std::cout << "sweep \"" << spec->name << "\" (" << spec->search << ", seed " << spec->seed
            << "): " << made << " trial" << (made == 1 ? "" : "s")
            << (spec->adaptive() ? " at submission" : "")
            << ", every file found; nothing was submitted (--dry-run)\n"
            << table.RenderText();
  if (spec->model_based()) {
    std::cout << "trials " << made << "-" << trials->size() - 1
              << " above are the next suggestions before any result (random: TPE models "
                 "results); in all "
              << spec->num_samples << " trials, suggested by " << spec->search
              << " from the results stored as workers free up\n";
  } else if (spec->search == "pbt") {
    std::cout << "the population; every " << spec->pbt.perturbation_interval
              << " steps its worst trials are replaced by explored copies of its best\n";
  }
  return 0;
}

int RunSubmit(const std::vector<std::string>& args) {
  SubmitFlags flags;
  AppPtr app = SubmitApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string& path = flags.sweep_file;
  Result<std::string> text = ReadFileToString(path);
  if (!text.ok()) return ReportFailure("submit", text.status());
  std::error_code ec;
  const std::string base_dir = std::filesystem::current_path(ec).string();
  if (ec)
    return ReportFailure("submit", Internal("cannot read the current directory: " + ec.message()));
  if (flags.dry_run) return DryRun(path, *text, base_dir, flags.remote.json);
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("submit", remote.status());
  const Json body = {
      {"spec", *text}, {"base_dir", base_dir}, {"source", path}, {"owner", CurrentUser()}};
  Result<Json> reply = remote->Post("/v1/sweeps", body);
  if (!reply.ok()) {
    Status st = reply.status();
    if (st.code() == StatusCode::kInvalidArgument) st = st.WithContext(path);
    return ReportFailure("submit", st);
  }
  const bool json = flags.remote.json;
  const Json& sweep = Member(*reply, "sweep");
  const std::string id = StringMember(sweep, "id");
  if (id.empty())
    return ReportFailure("submit", Internal("the coordinator's reply has no sweep id"));
  if (json && !flags.wait) {
    PrintJson(*reply);
    return 0;
  }
  if (!json) {
    const Json& trials = Member(*reply, "trials");
    const size_t n = trials.is_array() ? trials.size() : 0;
    std::cout << "submitted sweep " << id << " \"" << StringMember(sweep, "name") << "\": " << n
              << " trial" << (n == 1 ? "" : "s") << "\n"
              << "  follow it:  lorafleet status " << id << "   (or: lorafleet logs " << id
              << " -f)\n"
              << "  results:    lorafleet compare " << id << "\n";
    std::cout.flush();
  }
  if (!flags.wait) return 0;
  return WatchSweep(*remote, *reply, {.json = json});
}

int RunCompare(const std::vector<std::string>& args) {
  CompareFlags flags;
  AppPtr app = CompareApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  std::string ids;
  for (const std::string& id : flags.sweeps) {
    if (ClassifyId(id) != IdKind::kSweep) {
      Status st = CheckId(id);
      return ReportError("compare", st.ok() ? InvalidArgument("'" + id +
                                                              "' is a trial; compare takes "
                                                              "its sweep, " +
                                                              id.substr(0, 26))
                                            : st);
    }
    ids += (ids.empty() ? "" : ",") + id;
  }
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("compare", remote.status());
  // One sweep, or several that share a base model, compared as one table.
  Result<Json> reply = flags.sweeps.size() == 1
                           ? remote->Get("/v1/sweeps/" + ids + "/compare")
                           : remote->Get("/v1/compare?sweeps=" + ids);
  if (!reply.ok()) return ReportFailure("compare", reply.status());
  if (const std::optional<std::string>& plot = flags.plot) {
    std::string title;
    for (const Json& sweep : Member(*reply, "sweeps")) {
      title += (title.empty() ? "" : " + ") + StringMember(sweep, "name");
    }
    Result<std::string> svg = ComparePlotSvg(
        Member(*reply, "rows"),
        {.x = flags.plot_x, .title = title + ": eval loss"});
    if (!svg.ok()) return ReportFailure("compare", svg.status().WithContext("--plot"));
    if (Status st = WritePlot(*plot, *svg); !st.ok()) return ReportFailure("compare", st);
    std::cerr << "plot written to " << *plot << "\n";
  }
  if (flags.remote.json) {
    PrintJson(*reply);
  } else if (flags.csv) {
    std::cout << CompareTable(Member(*reply, "rows"), /*raw=*/true).RenderCsv();
  } else if (flags.md) {
    std::cout << CompareTable(Member(*reply, "rows"), /*raw=*/false).RenderMarkdown();
  } else {
    PrintComparison(*reply);
  }
  return 0;
}

int RunExport(const std::vector<std::string>& args) {
  ExportFlags flags;
  AppPtr app = ExportApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::string& id = flags.trial;
  const std::string& dir = flags.dir;
  if (ClassifyId(id) != IdKind::kTrial) {
    Status st = CheckId(id);
    return ReportError("export", st.ok() ? InvalidArgument("'" + id +
                                                           "' is a sweep; export takes a "
                                                           "trial (`lorafleet compare " +
                                                           id + "` lists them, best first)")
                                         : st);
  }
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_directory(dir, ec)) {
      return ReportFailure("export", FailedPrecondition(dir + " exists and is not a folder"));
    }
    if (!std::filesystem::is_empty(dir, ec) && !flags.force) {
      return ReportFailure(
          "export",
          FailedPrecondition(dir + " exists and is not empty; choose another folder or "
                                   "pass --force to overwrite the adapter's files in it"));
    }
  }
  Result<Coordinator> remote = ConnectFromFlags(flags.remote);
  if (!remote.ok()) return ReportFailure("export", remote.status());
  Result<Json> listing = remote->Get("/v1/trials/" + id + "/adapter");
  if (!listing.ok()) return ReportFailure("export", listing.status());
  const Json& files = Member(*listing, "files");
  if (!files.is_array() || files.empty()) {
    return ReportFailure("export", NotFound("trial " + id + " has no stored adapter files"));
  }
  if (Status st = CreateDirectories(dir); !st.ok()) return ReportFailure("export", st);
  // Adapters can be large: downloads get more time than the API's small replies.
  Coordinator downloader(remote->url(), std::chrono::minutes(10), remote->token());
  std::vector<std::string> names;
  for (const Json& f : files) {
    const std::string name = StringMember(f, "name");
    if (!IsPlainFileName(name)) {
      return ReportFailure("export", DataLoss("the coordinator listed an unsafe file name '" +
                                              name + "' for trial " + id));
    }
    Result<std::string> bytes =
        downloader.GetBytes("/v1/trials/" + id + "/adapter/" + UrlEncode(name));
    if (!bytes.ok())
      return ReportFailure("export", bytes.status().WithContext("downloading " + name));
    const Json& size = Member(f, "size");
    if (size.is_number() && static_cast<double>(bytes->size()) != size.get<double>()) {
      return ReportFailure("export",
                           DataLoss(name + ": got " + std::to_string(bytes->size()) +
                                    " bytes, the listing says " + FormatInt(size) + "; try again"));
    }
    const std::string want = StringMember(f, "sha256");
    if (!want.empty() && Sha256Hex(*bytes) != want) {
      return ReportFailure("export", DataLoss(name + ": sha256 " + Sha256Hex(*bytes) +
                                              " does not match the stored " + want +
                                              "; the download is corrupt, try again"));
    }
    const std::string out = (std::filesystem::path(dir) / name).string();
    if (Status st = WriteFileAtomically(out, *bytes); !st.ok()) return ReportFailure("export", st);
    names.push_back(name);
    if (name == "result.json") {
      if (Status st = WriteLineage(*bytes, id, dir); !st.ok()) return ReportFailure("export", st);
      names.push_back("lineage.json");
    }
  }
  // A warning, not a refusal: PEFT loads the adapter whatever a server thinks of it.
  std::vector<std::string> serving;
  const std::string config_path = (std::filesystem::path(dir) / "adapter_config.json").string();
  if (std::filesystem::exists(config_path, ec)) {
    Result<std::string> text = ReadFileToString(config_path);
    Result<Json> config = text.ok() ? ParseJson(*text, config_path) : Result<Json>(text.status());
    Result<jobs::AdapterShape> shape =
        config.ok() ? jobs::AdapterShapeOfPeftConfig(*config, config_path)
                    : Result<jobs::AdapterShape>(config.status());
    if (!shape.ok()) return ReportFailure("export", shape.status());
    serving = jobs::ServingWarnings(*shape);
  }
  if (flags.remote.json) {
    PrintJson({{"trial", id},
               {"dir", dir},
               {"files", files},
               {"written", names},
               {"serving_warnings", serving}});
    return 0;
  }
  for (const std::string& w : serving) std::cerr << "warning: serving: " << w << "\n";
  std::string list;
  for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
  std::cout << "exported " << id << " to " << dir << " (" << list
            << "): load with PeftModel.from_pretrained(model, '" << dir << "')\n";
  return 0;
}

}  // namespace lf::cli
