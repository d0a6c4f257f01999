// The wire protocol between the coordinator and worker ranks, carried over ZeroMQ (ROUTER at the
// coordinator, one DEALER per rank). A message is one JSON frame {"v": kProtocolVersion, "type":
// "ASSIGN", ...fields} followed by zero or more binary frames (DONE carries the adapter files).
// A message from another protocol version is refused with an error naming both versions.
// Messages carry jobs' typed values (the job, the trial result), which is why the protocol sits
// in jobs/ above common/. Values and pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "jobs/trial_result.h"

namespace lf::protocol {

inline constexpr int kProtocolVersion = 1;

// A trial a worker holds: which attempt, and how far it got.
struct RunningTrial {
  std::string trial_id;
  uint32_t attempt = 0;
  int64_t step = 0;
};

// worker -> coordinator, first and then every heartbeat interval. Every heartbeat carries the
// whole registration, so a restarted coordinator learns its workers from their next heartbeat.
struct Hello {
  std::string worker_id;  // "<host>/<rank>/<pid>": unique per process, stable while it lives
  int32_t rank = 0;
  int32_t world_size = 1;
  int32_t local_rank = 0;
  std::string host;
  int64_t pid = 0;
  std::string device;         // "cpu", "cuda:0"
  int64_t memory_bytes = 0;   // device memory (RAM for a CPU rank)
  std::vector<RunningTrial> running;  // what the rank is training now (empty: idle)
  double tokens_per_s = 0;    // of the current trial, last step
};
struct Heartbeat : Hello {};

// coordinator -> worker, answering a Hello from a worker it did not know.
struct Welcome {
  int64_t heartbeat_interval_ms = 1000;
};

// coordinator -> worker: train this trial. The job carries its output folder, shared by the ranks;
// the worker resumes from the newest checkpoint there.
struct Assign {
  std::string trial_id;
  uint32_t attempt = 0;
  jobs::JobSpec job;  // resolved, output set
  // Non-empty: the trial trains in a pack (one base model, several adapters trained together), and
  // a later ASSIGN with the same key joins that pack at its next step instead of waiting for it.
  // Empty (or absent: an older coordinator): the trial trains alone.
  std::string pack_key;
  // A trial on a gang of ranks: every member gets the ASSIGN, with the members' MPI_COMM_WORLD
  // ranks (ascending; the first is gang rank 0, which alone sends PROGRESS, CHECKPOINT and DONE)
  // and the tag that tells this gang from others forming at the same time. Empty: one rank.
  std::vector<int32_t> gang_ranks;
  int32_t gang_tag = 0;
};

// worker -> coordinator: metrics since the last Progress, batched.
struct MetricValue {
  int64_t step = 0;
  std::string name;
  double value = 0;
  int64_t time_ms = 0;
};
struct Progress {
  std::string trial_id;
  uint32_t attempt = 0;
  std::vector<MetricValue> metrics;
};

// worker -> coordinator: a checkpoint at `step` is complete in `path`.
struct Checkpoint {
  std::string trial_id;
  uint32_t attempt = 0;
  int64_t step = 0;
  std::string path;
};

// worker -> coordinator: trained to the end. Each file travels as one binary frame after the
// JSON frame, in the order of `files`.
struct AdapterFile {
  std::string name;   // "adapter_config.json", "adapter_model.safetensors", "result.json"
  std::string bytes;
};
struct Done {
  std::string trial_id;
  uint32_t attempt = 0;
  jobs::TrialResult result;
  std::vector<AdapterFile> files;
};

// worker -> coordinator: the attempt ended without an adapter.
struct Failed {
  std::string trial_id;
  uint32_t attempt = 0;
  std::string reason;
  bool retryable = false;    // false: a bad data file, a bad config: retrying cannot help
  bool interrupted = false;  // the worker was told to stop (SIGTERM); not a failure of the trial
  int64_t step = 0;          // the step the checkpoint holds, when interrupted
};

// coordinator -> worker: stop training this trial (cancelled, paused, or no longer this worker's).
// The worker checkpoints, drops the trial and reports nothing more for this attempt. With finish
// (early stopping) it instead ends training at the next step as if that were the last: final
// eval, adapter export, then DONE. A frame without "finish" (an older coordinator) is a plain stop.
struct Stop {
  std::string trial_id;
  uint32_t attempt = 0;
  std::string reason;
  bool finish = false;
};

using Message = std::variant<Hello, Heartbeat, Welcome, Assign, Progress, Checkpoint, Done, Failed,
                             Stop>;

// "HELLO", "HEARTBEAT", ...
std::string_view MessageTypeName(const Message& message);

// One JSON frame and then the binary frames.
std::vector<std::string> Encode(const Message& message);
// kInvalidArgument naming the type and field for a malformed message, kFailedPrecondition for
// another protocol version.
Result<Message> Decode(std::vector<std::string> frames);

}  // namespace lf::protocol
