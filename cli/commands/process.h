// Processes for `lorafleet up` / `down` (Linux): starting a daemon detached from the terminal
// (its own session, stdin /dev/null, stdout and stderr appended to a log), and finding, signalling
// and waiting for processes by pid through /proc. Free functions, no shared state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace lf::cli {

// fork + setsid + exec of argv[0] (a path). Errors (exec failing included) name the program.
// The caller may reap the child with ExitedEarly while it waits for it to come up.
Result<pid_t> SpawnDetached(const std::vector<std::string>& argv, const std::string& log_path);

// For a child of this process: true (and `description` set, e.g. "exited with code 1") once it
// has exited; reaps it.
bool ExitedEarly(pid_t child, std::string& description);

// Alive and not a zombie.
bool ProcessAlive(pid_t pid);
// /proc/<pid>/cmdline with the arguments joined by spaces; empty when it cannot be read.
std::string ProcessCommandLine(pid_t pid);
// Processes in session `sid` other than `sid` itself (e.g. the ranks mpirun started).
std::vector<pid_t> SessionMembers(pid_t sid);
// Sends `signal`; a process that is already gone is not an error.
void SendSignal(pid_t pid, int signal);
// Polls until the process is gone or `timeout` passes; true when it is gone.
bool WaitUntilGone(pid_t pid, std::chrono::milliseconds timeout);

// The folder of the running executable (/proc/self/exe's directory).
std::string ExecutableDir();
// The first PATH entry holding an executable `name`.
std::optional<std::string> FindOnPath(const std::string& name);
// The last `lines` lines of a text file ("" when it cannot be read).
std::string TailOfFile(const std::string& path, size_t lines);

// Pid files: one decimal pid and a newline.
Status WritePidFile(const std::string& path, pid_t pid);
// nullopt when the file does not exist or holds no pid.
std::optional<pid_t> ReadPidFile(const std::string& path);

}  // namespace lf::cli
