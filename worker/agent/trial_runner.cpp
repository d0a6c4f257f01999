#include "worker/agent/trial_runner.h"

#include <algorithm>
#include <exception>
#include <filesystem>

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

}  // namespace

bool IsRetryableFailure(StatusCode code) {
  return code != StatusCode::kInvalidArgument && code != StatusCode::kNotFound &&
         code != StatusCode::kFailedPrecondition;
}

TrialRunner::TrialRunner(uint64_t generation, protocol::Assign assign,
                         const WorkerIdentity& identity, Outbox& outbox, TrainFunction train)
    : generation_(generation),
      assign_(std::move(assign)),
      identity_(identity),
      outbox_(outbox),
      train_(std::move(train)) {}

TrialRunner::~TrialRunner() { Join(); }

void TrialRunner::Start() {
  LF_CHECK(!thread_.joinable());
  started_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] { Run(); });
}

void TrialRunner::StopForCoordinator() {
  stopped_by_coordinator_.store(true);
  stop_.store(true);
}

void TrialRunner::FinishEarly() { finish_.store(true); }

void TrialRunner::StopForShutdown(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(why_mu_);
    shutdown_why_ = why;
  }
  stop_.store(true);
}

void TrialRunner::Join() {
  if (thread_.joinable()) thread_.join();
}

protocol::RunningTrial TrialRunner::running() const {
  return {.trial_id = assign_.trial_id, .attempt = assign_.attempt, .step = step_.load()};
}

double TrialRunner::WallSeconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void TrialRunner::Fail(std::string reason, bool retryable) {
  LF_LOG_WARN("trial {} attempt {} failed after {:.1f} s: {}", assign_.trial_id, assign_.attempt,
              WallSeconds(), reason);
  outbox_.Push(generation_, protocol::Failed{.trial_id = assign_.trial_id,
                                             .attempt = assign_.attempt,
                                             .reason = std::move(reason),
                                             .retryable = retryable});
}

void TrialRunner::Run() {
  ConfigureTrainingThread(identity_);
  Result<jobs::JobSpec> job = jobs::ParseJobSpec(assign_.job, "job");
  if (!job.ok()) {
    Fail("trial " + assign_.trial_id + ": the assigned job is invalid: " + job.status().ToString(),
         false);
    finished_.store(true);
    return;
  }
  LF_LOG_INFO("trial {} attempt {} started: {} on {} -> {}", assign_.trial_id, assign_.attempt,
              job->method, job->base_model, job->output);
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
  // RunTrainJob reports errors as Status; anything thrown past it (a LibTorch error, bad_alloc)
  // must not take the process down with the other trials' state, so it becomes a failure too.
  Result<TrainJobResult> result = [&]() -> Result<TrainJobResult> {
    try {
      return train_(*job, options);
    } catch (const std::bad_alloc&) {
      return ResourceExhausted("out of memory while training trial " + assign_.trial_id);
    } catch (const std::exception& e) {
      return Internal("training trial " + assign_.trial_id + ": " + e.what());
    }
  }();
  Report(*job, result);
  finished_.store(true);
}

void TrialRunner::Report(const jobs::JobSpec& job, const Result<TrainJobResult>& result) {
  if (!result.ok()) {
    Fail(result.status().ToString(), IsRetryableFailure(result.status().code()));
    return;
  }
  const TrainResult& train = result->train;
  if (train.completed) {
    Result<std::vector<protocol::AdapterFile>> files =
        ReadResultFiles(job.output, result->adapter_dir);
    if (!files.ok()) {
      Fail(files.status().ToString(), true);
      return;
    }
    LF_LOG_INFO("trial {} attempt {} finished{}: {} steps in {:.1f} s, loss {:.4f}",
                assign_.trial_id, assign_.attempt, train.early_stopped ? " early" : "", train.steps,
                WallSeconds(), train.final_train_loss);
    outbox_.Push(generation_, protocol::Done{.trial_id = assign_.trial_id,
                                             .attempt = assign_.attempt,
                                             .result = TrainJobResultToJson(*result),
                                             .files = std::move(files).value()});
    return;
  }
  if (train.stop_reason != "stopped") {  // NaN or infinite loss: the same settings do it again
    Fail("trial " + assign_.trial_id + " stopped: " + train.stop_reason, false);
    return;
  }
  const int64_t checkpoint = checkpoint_step_.load() >= 0 ? checkpoint_step_.load() : train.steps;
  if (stopped_by_coordinator_.load()) {
    LF_LOG_INFO(
        "trial {} attempt {} stopped by the coordinator at step {} after {:.1f} s "
        "(checkpointed)",
        assign_.trial_id, assign_.attempt, checkpoint, WallSeconds());
    return;
  }
  std::string why;
  {
    std::lock_guard<std::mutex> lock(why_mu_);
    why = shutdown_why_.empty() ? "a stop request" : shutdown_why_;
  }
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
}

}  // namespace lf::worker
