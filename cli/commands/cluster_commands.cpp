// `lorafleet up` starts the coordinator daemon and `mpirun ... lorafleet-worker` in the background,
// detached from the terminal, and waits until both answer; `lorafleet down` stops them: the
// worker ranks first (SIGTERM: they checkpoint and exit), then the daemon.
//
// Why the ranks get SIGTERM directly rather than through mpirun: Open MPI's mpirun, on SIGTERM,
// sends the ranks SIGCONT, waits odls_base_sigkill_timeout (1 s), sends SIGTERM, waits again and
// sends SIGKILL, which leaves a training rank about a second to checkpoint. Ranks signalled
// directly take as long as they need; mpirun (run with --enable-recovery, so one rank's death
// does not take down the others) exits once the last one has.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include "cli/commands/command_flags.h"
#include "cli/commands/commands.h"
#include "cli/commands/process.h"
#include "cli/commands/remote.h"
#include "cli/commands/table.h"
#include "common/access_token.h"
#include "common/curve_keys.h"
#include "common/file_util.h"

namespace lf::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto kStartTimeout = seconds(30);
constexpr auto kWorkerStopTimeout = seconds(60);
constexpr auto kDaemonStopTimeout = seconds(30);

struct HomeLayout {
  std::string home, store, runs, logs, coordinator_log, workers_log, endpoint_file, coordinator_pid,
      workers_pid;
  std::string keys, worker_keys;  // the CURVE keys folder (lorafleetd makes it) and worker.key
};

HomeLayout Layout(const std::string& home) {
  const fs::path h(home);
  return {home,
          (h / "store").string(),
          (h / "runs").string(),
          (h / "logs").string(),
          (h / "logs" / "coordinator.log").string(),
          (h / "logs" / "workers.log").string(),
          CoordinatorFilePath(home),
          (h / "coordinator.pid").string(),
          (h / "workers.pid").string(),
          (h / "keys").string(),
          (h / "keys" / curve::kWorkerKeyFile).string()};
}

// This host's name as other hosts of a hostfile reach it; "localhost" when it cannot be read.
std::string ThisHostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

bool Answers(const std::string& url) {
  return Coordinator(url, milliseconds(1000)).Get("/v1/health").ok();
}

// The pid in a pid file when that process is alive and its command line mentions `program`
// (so a reused pid is not mistaken for ours).
std::optional<pid_t> LiveProcess(const std::string& pid_file,
                                 std::initializer_list<const char*> programs) {
  std::optional<pid_t> pid = ReadPidFile(pid_file);
  if (!pid || !ProcessAlive(*pid)) return std::nullopt;
  const std::string cmdline = ProcessCommandLine(*pid);
  for (const char* program : programs) {
    if (cmdline.find(program) != std::string::npos) return pid;
  }
  return std::nullopt;
}

// The workers an earlier `up` started: mpirun (while alive) and the local ranks, found by the
// session mpirun leads (it was started with setsid). Ranks outlive a killed mpirun; they are then
// recognised by their command line.
struct WorkerProcesses {
  pid_t session = 0;
  std::optional<pid_t> mpirun;
  std::vector<pid_t> ranks;
  bool any() const { return mpirun.has_value() || !ranks.empty(); }
};

WorkerProcesses FindWorkers(const HomeLayout& layout) {
  WorkerProcesses w;
  std::optional<pid_t> pid = ReadPidFile(layout.workers_pid);
  if (!pid) return w;
  w.session = *pid;
  w.mpirun = LiveProcess(layout.workers_pid, {"mpirun", "mpiexec", "orterun"});
  for (pid_t p : SessionMembers(*pid)) {
    if (w.mpirun || ProcessCommandLine(p).find("lorafleet-worker") != std::string::npos) {
      w.ranks.push_back(p);
    }
  }
  return w;
}

Status CheckNothingRunning(const HomeLayout& layout, const std::string& http_url) {
  Result<CoordinatorFile> file = ReadCoordinatorFile(layout.endpoint_file);
  if (file.ok()) {
    Result<std::string> url = NormalizeUrl(file->http);
    if (url.ok() && Answers(*url)) {
      return AlreadyExists("lorafleet is already running at " + *url + " (pid " +
                           std::to_string(file->pid) + ", home " + layout.home +
                           "); `lorafleet down` stops it");
    }
  }
  const bool any_port = http_url.size() >= 2 && http_url.compare(http_url.size() - 2, 2, ":0") == 0;
  if (!any_port && Answers(http_url)) {
    return AlreadyExists("a coordinator already answers at " + http_url +
                         " (not one started from " + layout.home +
                         "); stop it, or choose another address with --http HOST:PORT");
  }
  if (auto pid = LiveProcess(layout.coordinator_pid, {"lorafleetd"})) {
    return AlreadyExists("the coordinator from an earlier `lorafleet up` (pid " +
                         std::to_string(*pid) + ") is running but does not answer; " +
                         "`lorafleet down` stops it");
  }
  if (WorkerProcesses w = FindWorkers(layout); w.any()) {
    return AlreadyExists("workers from an earlier `lorafleet up` (mpirun pid " +
                         std::to_string(w.session) +
                         ") are still running; `lorafleet down` stops them");
  }
  return Status::Ok();
}

// Waits for the daemon to write its endpoint file and answer GET /v1/health.
Result<CoordinatorFile> WaitForCoordinator(pid_t pid, const HomeLayout& layout) {
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  std::string exit_description;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ExitedEarly(pid, exit_description)) {
      return FailedPrecondition("lorafleetd " + exit_description + " while starting; the end of " +
                                layout.coordinator_log + ":\n" +
                                TailOfFile(layout.coordinator_log, 15));
    }
    Result<CoordinatorFile> file = ReadCoordinatorFile(layout.endpoint_file);
    if (file.ok() && (file->pid == 0 || file->pid == pid)) {
      Result<std::string> url = NormalizeUrl(file->http);
      if (!url.ok()) return url.status().WithContext(layout.endpoint_file);
      if (Answers(*url)) {
        file->http = *url;
        return *file;
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return DeadlineExceeded(
      "lorafleetd (pid " + std::to_string(pid) + ") did not answer within " +
      std::to_string(kStartTimeout.count()) + " s; see " + layout.coordinator_log +
      " (it is still running: `lorafleet down --home " + layout.home + "` stops it)");
}

// Waits until `want` workers are connected; returns how many are.
Result<size_t> WaitForWorkers(pid_t mpirun, size_t want, const std::string& url,
                              const HomeLayout& layout) {
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  const Coordinator remote(url, milliseconds(2000));
  size_t connected = 0;
  std::string exit_description;
  while (true) {
    if (Result<Json> reply = remote.Get("/v1/workers"); reply.ok()) {
      const Json& workers = Member(*reply, "workers");
      connected = workers.is_array() ? workers.size() : 0;
      if (connected >= want) return connected;
    }
    if (ExitedEarly(mpirun, exit_description)) {
      return FailedPrecondition("mpirun " + exit_description +
                                " while the workers started; the end of " + layout.workers_log +
                                ":\n" + TailOfFile(layout.workers_log, 15) +
                                "  (the coordinator is still running: `lorafleet down` stops it)");
    }
    if (std::chrono::steady_clock::now() >= deadline) return connected;
    std::this_thread::sleep_for(milliseconds(200));
  }
}

struct UpOptions {
  int64_t workers = 2;
  std::string hostfile;
  std::string http = "127.0.0.1:7070";
  std::string worker_endpoint = kDefaultWorkerEndpoint;
  std::optional<std::string> heartbeat_timeout;
  std::optional<int64_t> max_pack;
  std::vector<std::string> daemon_args;  // appended to lorafleetd's command line
  bool open_reads = false;
  bool json = false;
};

// The programs `up` starts: the daemon and the worker from this executable's directory, and
// mpirun from PATH (only looked for when workers are wanted).
struct UpPrograms {
  std::string daemon, worker;
  std::optional<std::string> mpirun;
};

Result<UpPrograms> FindPrograms(const UpOptions& opt) {
  const std::string bindir = ExecutableDir();
  UpPrograms programs{(fs::path(bindir) / "lorafleetd").string(),
                      (fs::path(bindir) / "lorafleet-worker").string(), std::nullopt};
  if (::access(programs.daemon.c_str(), X_OK) != 0) {
    return NotFound("the coordinator daemon is not at " + programs.daemon +
                    "; build it (cmake --build BUILD --target lorafleetd)");
  }
  if (opt.workers > 0) {
    if (::access(programs.worker.c_str(), X_OK) != 0) {
      return NotFound("the worker is not at " + programs.worker +
                      "; build it (cmake --build BUILD --target lorafleet-worker)");
    }
    programs.mpirun = FindOnPath("mpirun");
    if (!programs.mpirun) {
      return NotFound("mpirun is not on PATH; install openmpi-bin (make deps), "
                      "or start only the coordinator with --workers 0");
    }
  }
  return programs;
}

// The home's directories exist, and no endpoint or pid file is left from an earlier run.
Status PrepareHome(const HomeLayout& layout) {
  // Private: the store holds every adapter and the home the access token.
  for (const std::string& dir : {layout.home, layout.store, layout.runs, layout.logs}) {
    LF_RETURN_IF_ERROR(CreatePrivateDirectory(dir));
  }
  std::error_code ec;
  for (const std::string& stale :
       {layout.endpoint_file, layout.coordinator_pid, layout.workers_pid}) {
    fs::remove(stale, ec);
  }
  return Status::Ok();
}

std::vector<std::string> DaemonArgv(const std::string& daemon, const UpOptions& opt,
                                    const HomeLayout& layout, const std::string& token_file) {
  std::vector<std::string> argv = {
      daemon,   "--store",   layout.store,        "--runs",          layout.runs,         "--http",
      opt.http, "--workers", opt.worker_endpoint, "--endpoint-file", layout.endpoint_file,
      "--token-file", token_file, "--worker-keys", layout.keys};
  if (opt.open_reads) argv.push_back("--open-reads");
  if (opt.heartbeat_timeout) {
    argv.push_back("--heartbeat-timeout");
    argv.push_back(*opt.heartbeat_timeout);
  }
  if (opt.max_pack) {
    argv.push_back("--max-pack");
    argv.push_back(std::to_string(*opt.max_pack));
  }
  argv.insert(argv.end(), opt.daemon_args.begin(), opt.daemon_args.end());
  return argv;
}

struct StartedCoordinator {
  pid_t pid = 0;
  CoordinatorFile endpoint;      // http: the normalised URL that answered
  std::string workers_endpoint;  // as the ranks reach it
};

// Starts lorafleetd detached and waits until it answers; its pid file is written only then.
Result<StartedCoordinator> StartCoordinator(const std::vector<std::string>& argv,
                                            const UpOptions& opt, const HomeLayout& layout) {
  StartedCoordinator daemon;
  LF_ASSIGN_OR_RETURN(daemon.pid, SpawnDetached(argv, layout.coordinator_log));
  if (!opt.json)
    std::cout << "starting the coordinator (pid " << daemon.pid << ")...\n" << std::flush;
  LF_ASSIGN_OR_RETURN(daemon.endpoint, WaitForCoordinator(daemon.pid, layout));
  LF_RETURN_IF_ERROR(WritePidFile(layout.coordinator_pid, daemon.pid));
  daemon.workers_endpoint =
      daemon.endpoint.workers.empty() ? opt.worker_endpoint : daemon.endpoint.workers;
  // Bound on every interface: the ranks connect to this host by its name.
  if (const std::string any = "tcp://0.0.0.0:"; daemon.workers_endpoint.rfind(any, 0) == 0) {
    daemon.workers_endpoint =
        "tcp://" + ThisHostName() + ":" + daemon.workers_endpoint.substr(any.size());
  }
  return daemon;
}

std::vector<std::string> MpirunArgv(const UpPrograms& programs, const UpOptions& opt,
                                    const HomeLayout& layout,
                                    const std::string& workers_endpoint) {
  std::vector<std::string> argv = {*programs.mpirun, "-np", std::to_string(opt.workers),
                                   "--oversubscribe", "--bind-to", "none",
                                   // One rank killed (OOM, SIGKILL) must not take down the rest.
                                   "--enable-recovery"};
  if (!opt.hostfile.empty()) {
    std::error_code ec;
    argv.push_back("--hostfile");
    argv.push_back(fs::absolute(opt.hostfile, ec).string());
  }
  if (::geteuid() == 0) argv.push_back("--allow-run-as-root");
  if (std::getenv("LF_LOG_LEVEL") != nullptr) {  // mpirun warns about -x of an unset variable
    argv.push_back("-x");
    argv.push_back("LF_LOG_LEVEL");
  }
  argv.insert(argv.end(),
              {programs.worker, "--coordinator", workers_endpoint, "--keys", layout.worker_keys});
  return argv;
}

struct StartedWorkers {
  pid_t mpirun_pid = 0;  // 0: none started (--workers 0)
  size_t connected = 0;
};

// Starts mpirun detached and waits for its ranks to connect; fewer than asked for within
// kStartTimeout is a warning (they may still be loading), mpirun exiting an error.
Result<StartedWorkers> StartWorkers(const std::vector<std::string>& argv, const UpOptions& opt,
                                    const HomeLayout& layout, const StartedCoordinator& daemon) {
  if (!opt.hostfile.empty() && daemon.workers_endpoint.find("127.0.0.1") != std::string::npos) {
    std::cerr << "lorafleet up: warning: ranks on other hosts cannot reach "
              << daemon.workers_endpoint
              << "; pass --worker-endpoint tcp://<this host's address>:PORT\n";
  }
  StartedWorkers workers;
  LF_ASSIGN_OR_RETURN(workers.mpirun_pid, SpawnDetached(argv, layout.workers_log));
  LF_RETURN_IF_ERROR(WritePidFile(layout.workers_pid, workers.mpirun_pid));
  if (!opt.json) {
    std::cout << "starting " << opt.workers << " worker" << (opt.workers == 1 ? "" : "s")
              << " (mpirun pid " << workers.mpirun_pid << ")...\n"
              << std::flush;
  }
  LF_ASSIGN_OR_RETURN(workers.connected,
                      WaitForWorkers(workers.mpirun_pid, static_cast<size_t>(opt.workers),
                                     daemon.endpoint.http, layout));
  if (workers.connected < static_cast<size_t>(opt.workers)) {
    std::cerr << "lorafleet up: warning: " << workers.connected << " of " << opt.workers
              << " workers connected within " << kStartTimeout.count()
              << " s; they may still be loading (`lorafleet workers`; log: " << layout.workers_log
              << ")\n";
  }
  return workers;
}

void PrintFleet(const StartedCoordinator& daemon, const StartedWorkers& workers,
                const UpOptions& opt, const HomeLayout& layout, const std::string& token_file) {
  const std::string& url = daemon.endpoint.http;
  if (opt.json) {
    PrintJson(
        {{"url", url},
         {"dashboard", url + "/"},
         {"workers_endpoint", daemon.workers_endpoint},
         {"coordinator_pid", daemon.pid},
         {"mpirun_pid", workers.mpirun_pid},
         {"workers_requested", opt.workers},
         {"workers_connected", workers.connected},
         {"home", layout.home},
         {"store", layout.store},
         {"runs", layout.runs},
         {"token_file", token_file},
         {"worker_keys", layout.worker_keys},
         {"logs", {{"coordinator", layout.coordinator_log}, {"workers", layout.workers_log}}}});
    return;
  }
  std::cout << "lorafleet is up\n"
            << "  coordinator   " << url << " (pid " << daemon.pid << ")\n"
            << "  dashboard     " << url << "/ (in a browser on this machine)\n";
  if (opt.workers > 0) {
    std::cout << "  workers       " << workers.connected << " of " << opt.workers
              << " connected to " << daemon.workers_endpoint << " (mpirun pid "
              << workers.mpirun_pid << ")\n";
  } else {
    std::cout << "  workers       none started (--workers 0); they connect to "
              << daemon.workers_endpoint << " with --keys " << layout.worker_keys << "\n";
  }
  std::cout << "  store         " << layout.store << "\n"
            << "  access token  " << token_file << " (requests that change something need it)\n"
            << "  worker key    " << layout.worker_keys << " (ranks need it to connect)\n"
            << "  trial output  " << layout.runs << "\n"
            << "  logs          " << layout.coordinator_log << "\n"
            << "                " << layout.workers_log << "\n"
            << "next: `lorafleet submit SWEEP.yaml`; `lorafleet down` stops everything\n";
}

int Up(const UpOptions& opt, const HomeLayout& layout) {
  Result<UpPrograms> programs = FindPrograms(opt);
  if (!programs.ok()) return ReportFailure("up", programs.status());
  Result<std::string> http_url = NormalizeUrl(opt.http);
  if (!http_url.ok()) return ReportError("up", http_url.status().WithContext("--http"));
  if (Status st = CheckNothingRunning(layout, *http_url); !st.ok()) return ReportFailure("up", st);
  if (Status st = PrepareHome(layout); !st.ok()) return ReportFailure("up", st);

  // The access token requests that change something must carry; kept across restarts.
  const std::string token_file = TokenFilePath(layout.home);
  if (Result<std::string> token = LoadOrCreateAccessToken(token_file); !token.ok()) {
    return ReportFailure("up", token.status());
  }
  Result<StartedCoordinator> daemon =
      StartCoordinator(DaemonArgv(programs->daemon, opt, layout, token_file), opt, layout);
  if (!daemon.ok()) return ReportFailure("up", daemon.status());
  StartedWorkers workers;
  if (opt.workers > 0) {
    Result<StartedWorkers> started =
        StartWorkers(MpirunArgv(*programs, opt, layout, daemon->workers_endpoint), opt, layout,
                     *daemon);
    if (!started.ok()) return ReportFailure("up", started.status());
    workers = *started;
  }
  PrintFleet(*daemon, workers, opt, layout, token_file);
  return 0;
}

bool WaitUntilAllGone(const std::vector<pid_t>& pids, milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (pid_t p : pids) {
    const auto left =
        std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (!WaitUntilGone(p, std::max(left, milliseconds(0)))) return false;
  }
  return true;
}

// SIGTERM, a grace period, then SIGKILL. Returns true when the process had to be killed.
bool Stop(pid_t pid, std::chrono::milliseconds grace) {
  SendSignal(pid, SIGTERM);
  if (WaitUntilGone(pid, grace)) return false;
  SendSignal(pid, SIGKILL);
  WaitUntilGone(pid, milliseconds(5000));
  return true;
}

}  // namespace

int RunUp(const std::vector<std::string>& args) {
  UpFlags flags;
  AppPtr app = UpApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  UpOptions opt;
  opt.workers = flags.workers;
  opt.hostfile = flags.hostfile;
  opt.http = flags.http;
  // With ranks on other hosts the coordinator listens on every interface unless told otherwise.
  if (!opt.hostfile.empty()) opt.worker_endpoint = "tcp://0.0.0.0:7071";
  opt.worker_endpoint = flags.worker_endpoint.value_or(opt.worker_endpoint);
  if (opt.worker_endpoint.rfind("tcp://", 0) != 0) {
    return ReportError("up",
                       InvalidArgument("--worker-endpoint must look like tcp://HOST:PORT, got '" +
                                       opt.worker_endpoint + "'"));
  }
  opt.heartbeat_timeout = flags.heartbeat_timeout;
  opt.max_pack = flags.max_pack;
  std::istringstream words(flags.daemon_args);
  for (std::string word; words >> word;) opt.daemon_args.push_back(word);
  opt.json = flags.json;
  opt.open_reads = flags.open_reads;
  return Up(opt, Layout(ResolveHome(flags.home)));
}

int RunDown(const std::vector<std::string>& args) {
  DownFlags flags;
  AppPtr app = DownApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const HomeLayout layout = Layout(ResolveHome(flags.home));
  const WorkerProcesses workers = FindWorkers(layout);
  std::optional<pid_t> daemon = LiveProcess(layout.coordinator_pid, {"lorafleetd"});
  if (!daemon) {
    // A daemon started by hand with --endpoint-file has no pid file; its endpoint file names it.
    if (Result<CoordinatorFile> file = ReadCoordinatorFile(layout.endpoint_file);
        file.ok() && file->pid > 0 && ProcessAlive(static_cast<pid_t>(file->pid)) &&
        ProcessCommandLine(static_cast<pid_t>(file->pid)).find("lorafleetd") != std::string::npos) {
      daemon = static_cast<pid_t>(file->pid);
    }
  }
  std::vector<std::string> stopped;
  if (workers.any()) {
    std::cout << "stopping the workers (mpirun pid " << workers.session
              << (workers.mpirun ? "" : ", which is gone") << "; " << workers.ranks.size()
              << " local process" << (workers.ranks.size() == 1 ? "" : "es")
              << "): they checkpoint their trials first...\n"
              << std::flush;
    for (pid_t rank : workers.ranks) SendSignal(rank, SIGTERM);
    bool killed = false;
    if (workers.mpirun) {
      if (workers.ranks.empty() || !WaitUntilGone(*workers.mpirun, kWorkerStopTimeout)) {
        // No local ranks (all on other hosts): mpirun forwards SIGTERM itself, giving them about a
        // second before SIGKILL. Otherwise the ranks took too long.
        killed = Stop(*workers.mpirun, milliseconds(workers.ranks.empty() ? 30000 : 5000));
      }
    } else {
      killed = !WaitUntilAllGone(workers.ranks, kWorkerStopTimeout);
    }
    for (pid_t p : SessionMembers(workers.session)) {
      if (workers.mpirun ||
          std::find(workers.ranks.begin(), workers.ranks.end(), p) != workers.ranks.end()) {
        SendSignal(p, SIGKILL);
      }
    }
    stopped.push_back("the workers (mpirun pid " + std::to_string(workers.session) + ")" +
                      (killed ? ", killed after they did not exit in time" : ""));
  }
  if (daemon) {
    std::cout << "stopping the coordinator (pid " << *daemon << ")...\n" << std::flush;
    const bool killed = Stop(*daemon, kDaemonStopTimeout);
    stopped.push_back(
        "the coordinator (pid " + std::to_string(*daemon) + ")" +
        (killed ? ", killed after " + std::to_string(kDaemonStopTimeout.count()) + " s" : ""));
  }
  std::error_code ec;
  bool stale = false;
  for (const std::string& file :
       {layout.endpoint_file, layout.coordinator_pid, layout.workers_pid}) {
    stale |= fs::remove(file, ec);
  }
  if (stopped.empty()) {
    std::cout << "nothing is running from " << layout.home
              << (stale ? " (removed stale pid and endpoint files)" : "") << "\n";
    return 0;
  }
  std::cout << "stopped";
  for (size_t i = 0; i < stopped.size(); ++i) std::cout << (i == 0 ? " " : " and ") << stopped[i];
  std::cout << "\n";
  return 0;
}

}  // namespace lf::cli
