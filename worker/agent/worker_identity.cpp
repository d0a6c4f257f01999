#include "worker/agent/worker_identity.h"

#include <unistd.h>

#include <charconv>
#include <climits>
#include <fstream>
#include <sstream>

namespace lf::worker {
namespace {

// The variables each launcher sets, in the order they are tried.
struct LauncherVars {
  const char* rank;
  const char* size;
  const char* local_rank;  // may be null: the launcher does not say
  const char* local_size;  // may be null
};
constexpr LauncherVars kLaunchers[] = {
    {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
     "OMPI_COMM_WORLD_LOCAL_SIZE"},
    {"PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},  // MPICH / Hydra
    // srun has no "tasks on this node" variable; SLURM_NTASKS_PER_NODE is set when the job or
    // step asked for --ntasks-per-node (cluster/slurm/lorafleet.sbatch does), so CPU ranks on a
    // node split its cores and memory instead of each taking all of them.
    {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
};

// The variable's integer value; `fallback` when unset or empty.
Result<int32_t> IntFromEnv(const EnvLookup& env, const char* name, int32_t fallback, int32_t min) {
  if (name == nullptr) return fallback;
  const char* text = env(name);
  if (text == nullptr || *text == '\0') return fallback;
  const std::string_view s(text);
  int32_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < min) {
    return InvalidArgument("environment variable " + std::string(name) + "='" + std::string(s) +
                           "': expected an integer >= " + std::to_string(min) +
                           "; start workers with mpirun or srun, or unset it");
  }
  return value;
}

}  // namespace

Result<WorkerIdentity> DetectIdentity(const EnvLookup& env, const std::string& host, int64_t pid) {
  WorkerIdentity id;
  id.host = host;
  id.pid = pid;
  for (const LauncherVars& vars : kLaunchers) {
    const char* rank = env(vars.rank);
    if (rank == nullptr || *rank == '\0') continue;
    LF_ASSIGN_OR_RETURN(id.rank, IntFromEnv(env, vars.rank, 0, 0));
    LF_ASSIGN_OR_RETURN(id.world_size, IntFromEnv(env, vars.size, 1, 1));
    LF_ASSIGN_OR_RETURN(id.local_rank, IntFromEnv(env, vars.local_rank, 0, 0));
    LF_ASSIGN_OR_RETURN(id.local_size, IntFromEnv(env, vars.local_size, 1, 1));
    if (id.rank >= id.world_size) {
      return InvalidArgument(std::string(vars.rank) + "=" + std::to_string(id.rank) +
                             " is not below " + vars.size + "=" + std::to_string(id.world_size));
    }
    break;
  }
  id.worker_id = host + "/" + std::to_string(id.rank) + "/" + std::to_string(pid);
  return id;
}

std::string HostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

int64_t TotalRamBytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    int64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return 0;
}

protocol::Hello HelloFor(const WorkerIdentity& identity) {
  protocol::Hello h;
  h.worker_id = identity.worker_id;
  h.rank = identity.rank;
  h.world_size = identity.world_size;
  h.local_rank = identity.local_rank;
  h.host = identity.host;
  h.pid = identity.pid;
  h.device = identity.device;
  h.memory_bytes = identity.memory_bytes;
  return h;
}

}  // namespace lf::worker
