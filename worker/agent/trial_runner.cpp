#include "worker/agent/trial_runner.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <map>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "worker/agent/device.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;

// The files DONE carries: every file of the adapter folder (adapter_config.json,
// adapter_model.safetensors; for full fine-tuning the model folder: config.json,
// model.safetensors, tokenizer files), then result.json.
Result<std::vector<protocol::AdapterFile>> ReadResultFiles(const std::string& output,
                                                           const std::string& adapter_dir) {
  std::vector<fs::path> paths;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(adapter_dir, ec)) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  if (ec) return Internal("listing the adapter folder " + adapter_dir + ": " + ec.message());
  std::sort(paths.begin(), paths.end());
  paths.push_back(fs::path(output) / "result.json");
  std::vector<protocol::AdapterFile> files;
  for (const fs::path& path : paths) {
    Result<std::string> bytes = ReadFileToString(path.string());
    // The trainer just wrote these: a missing or unreadable one is this worker's fault, not the
    // trial's, so it is reported as retryable.
    if (!bytes.ok()) return Internal("reading the result " + bytes.status().ToString());
    files.push_back({path.filename().string(), std::move(bytes).value()});
  }
  return files;
}

// LibTorch errors and bad_alloc thrown past the engine must not take the process down with the
// other trials' state: they become failures of what was training.
template <typename F>
auto Guarded(const std::string& what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("out of memory while training " + what);
  } catch (const std::exception& e) {
    return Internal("training " + what + ": " + e.what());
  }
}

}  // namespace

bool IsRetryableFailure(StatusCode code) {
  return code != StatusCode::kInvalidArgument && code != StatusCode::kNotFound &&
         code != StatusCode::kFailedPrecondition;
}

TrialAttempt::TrialAttempt(uint64_t generation, protocol::Assign assign,
                           const WorkerIdentity& identity, Outbox& outbox)
    : generation_(generation),
      assign_(std::move(assign)),
      identity_(identity),
      outbox_(outbox),
      started_(std::chrono::steady_clock::now()) {
  const auto& gang = assign_.gang_ranks;
  reporter_ = gang.empty() || gang.front() == identity_.rank;
}

void TrialAttempt::StopForCoordinator() {
  stopped_by_coordinator_.store(true);
  stop_.store(true);
}

void TrialAttempt::FinishEarly() { finish_.store(true); }

void TrialAttempt::StopForShutdown(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(why_mu_);
    shutdown_why_ = why;
  }
  stop_.store(true);
}

protocol::RunningTrial TrialAttempt::running() const {
  return {.trial_id = assign_.trial_id, .attempt = assign_.attempt, .step = step_.load()};
}

std::string TrialAttempt::ShutdownWhy() const {
  std::lock_guard<std::mutex> lock(why_mu_);
  return shutdown_why_.empty() ? "a stop request" : shutdown_why_;
}

double TrialAttempt::WallSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void TrialAttempt::Fail(std::string reason, bool retryable) {
  LF_LOG_WARN("trial {} attempt {} failed after {:.1f} s: {}", assign_.trial_id, assign_.attempt,
              WallSeconds(), reason);
  outbox_.Push(generation_, protocol::Failed{.trial_id = assign_.trial_id,
                                             .attempt = assign_.attempt,
                                             .reason = std::move(reason),
                                             .retryable = retryable});
  ended_.store(true);
}

Result<jobs::JobSpec> TrialAttempt::MemberJob() {
  const auto& gang = assign_.gang_ranks;
  if (!gang.empty() && std::find(gang.begin(), gang.end(), identity_.rank) == gang.end()) {
    Fail("trial " + assign_.trial_id + ": worker " + identity_.worker_id + " (MPI rank " +
             std::to_string(identity_.rank) + ") is not a member of the gang it was assigned",
         false);
    return FailedPrecondition("not a member of the gang");
  }
  const jobs::JobSpec& job = assign_.job;
  const std::string how = !gang.empty() ? " on a gang of " + std::to_string(gang.size()) + " ranks"
                          : !assign_.pack_key.empty() ? " in a pack"
                                                      : "";
  LF_LOG_INFO("trial {} attempt {} started{}: {} on {} -> {}", assign_.trial_id, assign_.attempt,
              how, jobs::MethodName(job.method), job.base_model, job.output);
  return job;
}

TrainJobOptions TrialAttempt::Options() {
  TrainJobOptions options{
      .progress = false,
      .resume = true,
      .on_step =
          [this](const StepMetrics& m) {
            step_.store(m.step);
            tokens_per_s_.store(m.tokens_per_s);
            const int64_t now = SystemClock().NowMillis();
            std::vector<protocol::MetricValue> values = {
                {m.step, "loss", m.loss, now},
                {m.step, "lr", m.lr, now},
                {m.step, "grad_norm", m.grad_norm, now},
                {m.step, "tokens_per_s", m.tokens_per_s, now}};
            if (m.eval_loss) values.push_back({m.step, "eval_loss", *m.eval_loss, now});
            if (!reporter_) return;  // a gang's rank 0 reports for it
            outbox_.AddMetrics(generation_, assign_.trial_id, assign_.attempt, std::move(values));
          },
      .on_checkpoint =
          [this](int64_t step, const std::string& dir) {
            checkpoint_step_.store(step);
            std::error_code ec;
            fs::path path = fs::absolute(dir, ec);
            outbox_.Push(generation_,
                         protocol::Checkpoint{.trial_id = assign_.trial_id,
                                              .attempt = assign_.attempt,
                                              .step = step,
                                              .path = ec ? dir : path.lexically_normal().string()});
          },
      .stop_requested = [this] { return stop_.load(); },
      .finish_requested = [this] { return finish_.load(); }};
  options.gang_world_ranks.assign(assign_.gang_ranks.begin(), assign_.gang_ranks.end());
  options.gang_tag = assign_.gang_tag;
  options.device = identity_.device;  // the model loads and trains there
  return options;
}

void TrialAttempt::EndUnstarted() {
  if (stopped_by_coordinator_.load()) {
    LF_LOG_INFO("trial {} attempt {} stopped by the coordinator before it started",
                assign_.trial_id, assign_.attempt);
    ended_.store(true);
    return;
  }
  const std::string why = ShutdownWhy();
  outbox_.Push(generation_,
               protocol::Failed{.trial_id = assign_.trial_id,
                                .attempt = assign_.attempt,
                                .reason = "worker " + identity_.worker_id + " stopped by " + why +
                                          " before the trial started",
                                .retryable = true,
                                .interrupted = true});
  ended_.store(true);
}

void TrialAttempt::Report(const jobs::JobSpec& job, const Result<TrainJobResult>& result) {
  if (!result.ok() && result.status().code() == StatusCode::kNotFound) {
    // The coordinator found the job's files when the sweep was submitted, so a worker that cannot
    // is on a host that does not see them: another worker may.
    Fail(result.status().ToString() + "; worker " + identity_.worker_id + " on host " +
             identity_.host +
             " cannot read it, though the coordinator could when the sweep was submitted: every "
             "host needs the model and data at the same paths, on a filesystem they share "
             "(docs/operations.md#several-hosts)",
         true);
    return;
  }
  if (!result.ok()) {
    Fail(result.status().ToString(), IsRetryableFailure(result.status().code()));
    return;
  }
  const TrainResult& train = result->train;
  if (train.completed() && !reporter_) {  // rank 0 of the gang sends DONE with the adapter
    LF_LOG_INFO("trial {} attempt {}: this gang member's part is done ({} steps in {:.1f} s)",
                assign_.trial_id, assign_.attempt, train.steps, WallSeconds());
    ended_.store(true);
    return;
  }
  if (train.completed()) {
    Result<std::vector<protocol::AdapterFile>> files = ReadResultFiles(job.output, train.adapter_dir);
    if (!files.ok()) {
      Fail(files.status().ToString(), true);
      return;
    }
    LF_LOG_INFO("trial {} attempt {} finished{}: {} steps in {:.1f} s, loss {:.4f}",
                assign_.trial_id, assign_.attempt, train.early_stopped() ? " early" : "", train.steps,
                WallSeconds(), train.final_train_loss);
    outbox_.Push(generation_, protocol::Done{.trial_id = assign_.trial_id,
                                             .attempt = assign_.attempt,
                                             .result = train,
                                             .files = std::move(files).value()});
    ended_.store(true);
    return;
  }
  if (train.stop_reason == jobs::StopReason::kDiverged) {  // the same settings do it again
    Fail("trial " + assign_.trial_id + " stopped: " + train.stop_detail, false);
    return;
  }
  const int64_t checkpoint = checkpoint_step_.load() >= 0 ? checkpoint_step_.load() : train.steps;
  if (stopped_by_coordinator_.load()) {
    LF_LOG_INFO(
        "trial {} attempt {} stopped by the coordinator at step {} after {:.1f} s "
        "(checkpointed)",
        assign_.trial_id, assign_.attempt, checkpoint, WallSeconds());
    ended_.store(true);
    return;
  }
  const std::string why = ShutdownWhy();
  LF_LOG_INFO("trial {} attempt {} interrupted by {} at step {} after {:.1f} s (checkpointed)",
              assign_.trial_id, assign_.attempt, why, checkpoint, WallSeconds());
  outbox_.Push(generation_,
               protocol::Failed{.trial_id = assign_.trial_id,
                                .attempt = assign_.attempt,
                                .reason = "worker " + identity_.worker_id + " stopped by " + why +
                                          "; resumes from the checkpoint at step " +
                                          std::to_string(checkpoint),
                                .retryable = true,
                                .interrupted = true,
                                .step = checkpoint});
  ended_.store(true);
}

TrialRunner::TrialRunner(uint64_t generation, protocol::Assign assign,
                         const WorkerIdentity& identity, Outbox& outbox)
    : identity_(identity), outbox_(outbox) {
  attempts_.push_back(
      std::make_unique<TrialAttempt>(generation, std::move(assign), identity, outbox));
  joining_.push_back(attempts_.back().get());
}

TrialRunner::TrialRunner(uint64_t generation, protocol::Assign assign,
                         const WorkerIdentity& identity, Outbox& outbox, TrainFunction train)
    : TrialRunner(generation, std::move(assign), identity, outbox) {
  train_ = std::move(train);
}

TrialRunner::TrialRunner(uint64_t generation, protocol::Assign assign,
                         const WorkerIdentity& identity, Outbox& outbox, PackFunction open_pack)
    : TrialRunner(generation, std::move(assign), identity, outbox) {
  open_pack_ = std::move(open_pack);
  pack_key_ = attempts_.front()->pack_key();
  LF_CHECK_MSG(!pack_key_.empty(),
               "a pack for trial " + attempts_.front()->trial_id() + ", which has no pack key");
}

TrialRunner::~TrialRunner() { Join(); }

void TrialRunner::Start() {
  LF_CHECK(!thread_.joinable());
  thread_ = std::thread([this] {
    ConfigureTrainingThread(identity_);
    if (pack_key_.empty()) {
      RunAlone();
    } else {
      RunPack();
    }
    finished_.store(true);
  });
}

void TrialRunner::Join() {
  if (thread_.joinable()) thread_.join();
}

bool TrialRunner::TryAdd(uint64_t generation, protocol::Assign assign) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pack_key_.empty() || closed_ || assign.pack_key != pack_key_) return false;
  attempts_.push_back(
      std::make_unique<TrialAttempt>(generation, std::move(assign), identity_, outbox_));
  joining_.push_back(attempts_.back().get());
  return true;
}

TrialAttempt* TrialRunner::Find(const std::string& trial_id, uint32_t attempt) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& a : attempts_) {
    if (!a->ended() && a->trial_id() == trial_id && a->attempt() == attempt) return a.get();
  }
  return nullptr;
}

std::vector<const TrialAttempt*> TrialRunner::Holding() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const TrialAttempt*> out;
  for (const auto& a : attempts_) {
    if (!a->ended() && !a->stopped_by_coordinator()) out.push_back(a.get());
  }
  return out;
}

void TrialRunner::StopForShutdown(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& a : attempts_) {
    if (!a->ended() && !a->stopped_by_coordinator()) a->StopForShutdown(why);
  }
}

std::vector<TrialAttempt*> TrialRunner::TakeJoining(size_t members) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TrialAttempt*> out;
  out.swap(joining_);
  if (out.empty() && members == 0) closed_ = true;
  return out;
}

void TrialRunner::RunAlone() {
  TrialAttempt& a = *TakeJoining(0).front();
  Result<jobs::JobSpec> job = a.MemberJob();
  if (!job.ok()) return;
  Result<TrainJobResult> result = Guarded("trial " + a.trial_id(), [&]() -> Result<TrainJobResult> {
    return train_(*job, a.Options());
  });
  a.Report(*job, result);
}

void TrialRunner::RunPack() {
  struct Member {
    TrialAttempt* attempt;
    jobs::JobSpec job;
  };
  // The base stays loaded while the pack has members or trials joining; the pack closes (and a
  // later trial opens a new one) only when the last member has left and none is waiting.
  std::unique_ptr<TrainPack> pack;
  std::map<std::string, Member> members;  // by trial id
  for (;;) {
    std::vector<TrialAttempt*> joining = TakeJoining(members.size());
    if (joining.empty() && members.empty()) return;
    for (TrialAttempt* a : joining) {
      if (a->stop_requested()) {
        a->EndUnstarted();
        continue;
      }
      Result<jobs::JobSpec> job = a->MemberJob();
      if (!job.ok()) continue;
      const std::string what = "trial " + a->trial_id();
      if (pack == nullptr) {
        Result<std::unique_ptr<TrainPack>> opened =
            Guarded(what, [&]() -> Result<std::unique_ptr<TrainPack>> { return open_pack_(*job, identity_.device); });
        if (!opened.ok()) {
          a->Report(*job, opened.status());
          continue;
        }
        pack = std::move(opened).value();
      }
      Status added =
          Guarded(what, [&]() -> Status { return pack->Add(a->trial_id(), *job, a->Options()); });
      if (!added.ok()) {
        a->Report(*job, added);
        continue;
      }
      members.emplace(a->trial_id(), Member{a, std::move(job).value()});
    }
    if (members.empty()) continue;
    Result<std::vector<TrainPack::Finished>> finished =
        Guarded("a pack of " + std::to_string(members.size()) + " trials",
                [&]() -> Result<std::vector<TrainPack::Finished>> { return pack->Step(); });
    if (!finished.ok()) {  // after a throw the pack's state is unknown: all of it fails
      for (auto& [id, m] : members) m.attempt->Report(m.job, finished.status());
      members.clear();
      pack.reset();
      continue;
    }
    for (TrainPack::Finished& f : *finished) {
      auto it = members.find(f.id);
      LF_CHECK_MSG(it != members.end(), "the pack returned unknown trial " + f.id);
      it->second.attempt->Report(it->second.job, f.result);
      members.erase(it);
    }
  }
}

}  // namespace lf::worker
