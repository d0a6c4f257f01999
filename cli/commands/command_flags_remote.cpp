// The flags of the commands that start, stop or call the coordinator.
#include "cli/commands/command_flags.h"

namespace lf::cli {
namespace {

using flags::IntAtLeast;
using flags::MakeApp;

constexpr const char* kHomeHelp = "the fleet's folder (default: $LORAFLEET_HOME, then ./.lorafleet)";

AppPtr RemoteApp(const std::string& command, const std::string& description, RemoteFlags& f) {
  AppPtr app = MakeApp("lorafleet " + command, description);
  AddRemoteFlags(*app, f);
  return app;
}

}  // namespace

void AddRemoteFlags(CLI::App& app, RemoteFlags& flags) {
  app.add_option("--url", flags.url,
                 "the coordinator (default: $LORAFLEET_URL, then <home>/coordinator.json, then " +
                     std::string(kDefaultUrl) + ")")
      ->type_name("URL");
  app.add_option("--home", flags.home, kHomeHelp)->type_name("DIR");
  app.add_flag("--json", flags.json, "print the coordinator's reply as JSON");
}

AppPtr UpApp(UpFlags& f) {
  AppPtr app = MakeApp("lorafleet up",
                       "Start the coordinator and N workers (mpirun ... lorafleet-worker) in the "
                       "background and wait until they answer.");
  app->add_option("--workers", f.workers, "worker ranks to start; 0: only the coordinator")
      ->type_name("N")
      ->check(IntAtLeast(0));
  app->add_option("--hostfile", f.hostfile, "an MPI hostfile: ranks on other hosts")
      ->type_name("FILE")
      ->check(CLI::ExistingFile.description(""));  // the type name already says FILE
  app->add_option("--home", f.home, kHomeHelp)->type_name("DIR");
  app->add_option("--http", f.http, "the HTTP API and dashboard; port 0: any")
      ->type_name("HOST:PORT");
  app->add_option("--worker-endpoint", f.worker_endpoint,
                  "where the workers connect (default: " + std::string(kDefaultWorkerEndpoint) +
                      "; with --hostfile, tcp://0.0.0.0:7071)")
      ->type_name("tcp://HOST:PORT");
  app->add_option("--heartbeat-timeout", f.heartbeat_timeout,
                  "a worker silent this long is lost (default: lorafleetd's, 10)")
      ->type_name("SECONDS")
      ->check(flags::PositiveNumber());
  app->add_option("--max-pack", f.max_pack,
                  "LoRA trials one worker trains at once (default: lorafleetd's)")
      ->type_name("N")
      ->check(IntAtLeast(0));
  app->add_flag("--open-reads", f.open_reads, "GET requests from any host need no token");
  app->add_option("--daemon-args", f.daemon_args,
                  "more lorafleetd flags, split at spaces: quotas, --allowed-host NAME "
                  "(lorafleetd --help lists them)")
      ->type_name("\"FLAGS\"");
  app->add_flag("--json", f.json, "print the addresses and pids as JSON");
  return app;
}

AppPtr DownApp(DownFlags& f) {
  AppPtr app = MakeApp("lorafleet down",
                       "Stop the workers (they checkpoint their trials first), then the "
                       "coordinator.");
  app->add_option("--home", f.home, kHomeHelp)->type_name("DIR");
  return app;
}

AppPtr ListingApp(const std::string& command, const std::string& description, RemoteFlags& f) {
  return RemoteApp(command, description, f);
}

AppPtr IdApp(const std::string& command, const std::string& what, const std::string& description,
             IdFlags& f) {
  AppPtr app = RemoteApp(command, description, f.remote);
  app->add_option(what, f.id, "a sweep id, or a trial id (<sweep id>-NNNNNN)")->required();
  return app;
}

AppPtr LogsApp(LogsFlags& f) {
  AppPtr app = RemoteApp("logs",
                         "A sweep's or trial's events and metric lines in time order.", f.remote);
  app->add_option("SWEEP|TRIAL", f.id, "a sweep id, or a trial id")->required();
  app->add_flag("-f,--follow", f.follow, "keep printing until every trial is final");
  return app;
}

AppPtr SubmitApp(SubmitFlags& f) {
  AppPtr app = RemoteApp("submit", "Queue a sweep.", f.remote);
  app->add_option("SWEEP.yaml", f.sweep_file, "the sweep file (docs/training.md)")->required();
  app->add_flag("--wait", f.wait, "follow the sweep and print the comparison at the end");
  app->add_flag("--dry-run", f.dry_run,
                "check the sweep here, without a coordinator, and print the trials it would run");
  return app;
}

AppPtr PriorityApp(PriorityFlags& f) {
  AppPtr app = RemoteApp("priority", "Set a sweep's priority: higher runs first.", f.remote);
  app->add_option("SWEEP", f.sweep, "a sweep id")->required();
  app->add_option("N", f.priority, "the priority, an integer (may be negative)")->required();
  return app;
}

AppPtr AdaptersApp(AdaptersFlags& f) {
  AppPtr app = RemoteApp("adapters", "Every stored adapter, newest first, with its tags.",
                         f.remote);
  app->add_option("--tag", f.tag, "only the adapter with this tag")->type_name("NAME");
  return app;
}

AppPtr TagApp(TagFlags& f) {
  AppPtr app = RemoteApp("tag",
                         "Name a completed trial's adapter (moves NAME if another has it).",
                         f.remote);
  app->add_option("TRIAL", f.trial, "a trial id")->required();
  app->add_option("NAME", f.name, "the tag")->required();
  return app;
}

AppPtr CompareApp(CompareFlags& f) {
  AppPtr app = RemoteApp("compare",
                         "The trials side by side, best eval loss first. Several sweeps compare "
                         "as one table when they train the same base model.",
                         f.remote);
  app->add_option("SWEEP", f.sweeps, "one or more sweep ids")->required();
  CLI::Option* csv = app->add_flag("--csv", f.csv, "comma-separated values, raw numbers");
  CLI::Option* md = app->add_flag("--md", f.md, "a Markdown table");
  csv->excludes(md);
  if (CLI::Option* json = app->get_option_no_throw("--json")) {
    json->excludes(csv);
    json->excludes(md);
  }
  app->add_option("--plot", f.plot,
                  "draw eval loss against a swept key, a line per combination of the others")
      ->type_name("FILE.svg|png");
  app->add_option("--plot-x", f.plot_x, "the swept key of --plot (default: the first numeric one)")
      ->type_name("KEY");
  return app;
}

AppPtr ExportApp(ExportFlags& f) {
  AppPtr app = RemoteApp("export",
                         "Download a trained adapter (Hugging Face PEFT format) into a folder.",
                         f.remote);
  app->add_option("TRIAL", f.trial, "a trial id")->required();
  app->add_option("DIR", f.dir, "the folder to write")->required();
  app->add_flag("--force", f.force, "write into a folder that is not empty");
  return app;
}

}  // namespace lf::cli
