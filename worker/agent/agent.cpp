#include "worker/agent/agent.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <type_traits>

#include "common/logging.h"
#include "worker/agent/device.h"
#include "worker/agent/outbox.h"

namespace lf::worker {
namespace {

using std::chrono::milliseconds;

// How long the loop waits for a message before it looks at the training thread again: the
// latency of a DONE or CHECKPOINT leaving the worker.
constexpr milliseconds kPollInterval{50};
// PROGRESS batches at most this often.
constexpr milliseconds kMetricsFlushInterval{250};
// At shutdown, how long messages the link refused (coordinator gone) are retried before exit.
constexpr milliseconds kShutdownSendGrace{2000};

volatile std::sig_atomic_t g_signal = 0;

extern "C" void OnStopSignal(int signal) {
  if (g_signal != 0) std::_Exit(128 + signal);  // a second signal: the user insists
  g_signal = signal;
}

void InstallSignalHandlers() {
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

std::string SignalName(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    default:
      return "signal " + std::to_string(signal);
  }
}

double GiB(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

}  // namespace

Status RunAgent(const AgentOptions& options) {
  if (options.coordinator.empty()) {
    return InvalidArgument(
        "--coordinator: required (e.g. tcp://127.0.0.1:7071), or set "
        "LORAFLEET_WORKER_ENDPOINT");
  }
  if (options.heartbeat_ms < 1) {
    return InvalidArgument("--heartbeat-ms: expected a positive number of milliseconds, got " +
                           std::to_string(options.heartbeat_ms));
  }
  LF_ASSIGN_OR_RETURN(
      WorkerIdentity identity,
      DetectIdentity([](const char* name) { return std::getenv(name); }, HostName(), getpid()));
  LF_RETURN_IF_ERROR(ChooseDevice(options.device, &identity));
  ZmqLinkOptions link_options;
  if (!options.keys_file.empty()) {
    LF_ASSIGN_OR_RETURN(link_options.keys, curve::ReadWorkerKeys(options.keys_file));
  } else {
    LF_LOG_WARN("no --keys: connecting to {} without CURVE; a coordinator started with "
                "--worker-keys will not let this worker in",
                options.coordinator);
  }
  LF_ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorLink> link,
                      ConnectToCoordinator(options.coordinator, identity.worker_id, link_options));
  if (options.handle_signals) InstallSignalHandlers();
  Agent agent(options, std::move(identity), std::move(link));
  return agent.Run();
}

Agent::Agent(AgentOptions options, WorkerIdentity identity, std::unique_ptr<CoordinatorLink> link,
             TrainFunction train, PackFunction open_pack)
    : options_(std::move(options)),
      identity_(std::move(identity)),
      link_(std::move(link)),
      train_(std::move(train)),
      open_pack_(std::move(open_pack)),
      outbox_(std::make_unique<Outbox>()),
      heartbeat_interval_(std::max<int64_t>(1, options_.heartbeat_ms)) {}

// The runner refers to identity_ and outbox_: it must be joined before they go.
Agent::~Agent() { runner_.reset(); }

void Agent::RequestShutdown(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    if (shutdown_why_.empty()) shutdown_why_ = why;
  }
  shutdown_requested_.store(true);
}

Status Agent::Run() {
  LF_LOG_INFO(
      "worker {} connected to {} (rank {} of {}, local rank {}, {}, {:.1f} GiB, {} "
      "threads)",
      identity_.worker_id, options_.coordinator, identity_.rank, identity_.world_size,
      identity_.local_rank, identity_.device, GiB(identity_.memory_bytes), identity_.threads);
  Send(HelloFor(identity_));
  Clock::time_point next_heartbeat = Clock::now() + heartbeat_interval_;
  Clock::time_point last_metrics_flush = Clock::now();
  Clock::time_point drained_at;  // when shutdown had nothing left but unsent messages
  for (;;) {
    if (options_.handle_signals && g_signal != 0) RequestShutdown(SignalName(g_signal));
    if (shutdown_requested_.load() && !shutting_down_) BeginShutdown();

    const milliseconds wait =
        std::clamp(std::chrono::duration_cast<milliseconds>(next_heartbeat - Clock::now()),
                   milliseconds(0), kPollInterval);
    Result<std::optional<protocol::Message>> received = link_->Receive(wait);
    if (!received.ok()) {
      LF_LOG_WARN("ignoring a message from the coordinator: {}", received.status().ToString());
    } else if (received->has_value()) {
      Handle(std::move(**received));
    }

    ReapFinishedTrial();
    const bool flush_metrics = Clock::now() - last_metrics_flush >= kMetricsFlushInterval;
    if (flush_metrics) last_metrics_flush = Clock::now();
    SendReady(flush_metrics);
    if (Clock::now() >= next_heartbeat) {
      SendHeartbeat();
      next_heartbeat = Clock::now() + heartbeat_interval_;
    }

    if (shutting_down_ && runner_ == nullptr && outbox_->empty()) {
      if (unsent_.empty()) break;
      if (drained_at == Clock::time_point()) drained_at = Clock::now();
      if (Clock::now() - drained_at > kShutdownSendGrace) {
        LF_LOG_WARN(
            "worker {}: the coordinator at {} is unreachable; exiting with {} messages "
            "unsent",
            identity_.worker_id, options_.coordinator, unsent_.size());
        break;
      }
    }
  }
  LF_LOG_INFO("worker {} stopped", identity_.worker_id);
  return Status::Ok();
}

void Agent::Handle(protocol::Message message) {
  if (auto* welcome = std::get_if<protocol::Welcome>(&message)) {
    heartbeat_interval_ = milliseconds(std::max<int64_t>(1, welcome->heartbeat_interval_ms));
    if (!welcomed_) {
      LF_LOG_INFO("worker {} registered with the coordinator at {}; heartbeat every {} ms",
                  identity_.worker_id, options_.coordinator, heartbeat_interval_.count());
    } else {
      LF_LOG_DEBUG("welcomed again (the coordinator restarted?); heartbeat every {} ms",
                   heartbeat_interval_.count());
    }
    welcomed_ = true;
  } else if (auto* assign = std::get_if<protocol::Assign>(&message)) {
    HandleAssign(std::move(*assign));
  } else if (auto* stop = std::get_if<protocol::Stop>(&message)) {
    HandleStop(*stop);
  } else {
    LF_LOG_WARN("ignoring {} from the coordinator: only WELCOME, ASSIGN and STOP go to workers",
                protocol::MessageTypeName(message));
  }
}

bool Agent::HoldsTrial(const std::string& trial_id, uint32_t attempt) const {
  if (runner_ != nullptr) {
    const TrialAttempt* a = runner_->Find(trial_id, attempt);
    if (a != nullptr && !a->stopped_by_coordinator()) return true;
  }
  for (const auto& q : queued_) {
    if (q.trial_id == trial_id && q.attempt == attempt) return true;
  }
  return false;
}

void Agent::HandleAssign(protocol::Assign assign) {
  if (HoldsTrial(assign.trial_id, assign.attempt)) {
    LF_LOG_DEBUG("ignoring a repeated ASSIGN of trial {} attempt {}", assign.trial_id,
                 assign.attempt);
    return;
  }
  if (shutting_down_) {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    outbox_->Push(0, protocol::Failed{.trial_id = assign.trial_id,
                                      .attempt = assign.attempt,
                                      .reason = "worker " + identity_.worker_id + " is stopping (" +
                                                shutdown_why_ + ") and did not start the trial",
                                      .retryable = true,
                                      .interrupted = true});
    return;
  }
  if (runner_ != nullptr && !assign.pack_key.empty() && queued_.empty()) {
    const std::string trial_id = assign.trial_id;
    const uint32_t attempt = assign.attempt;
    if (runner_->TryAdd(next_generation_, std::move(assign))) {
      ++next_generation_;
      LF_LOG_INFO("trial {} attempt {} joins the running pack at its next step", trial_id, attempt);
      return;
    }
  }
  queued_.push_back(std::move(assign));
  if (runner_ == nullptr) {
    StartNextTrial();
  } else {
    LF_LOG_INFO("trial {} attempt {} queued until the trials training now end",
                queued_.back().trial_id, queued_.back().attempt);
  }
}

void Agent::HandleStop(const protocol::Stop& stop) {
  const std::string why = stop.reason.empty() ? "" : " (" + stop.reason + ")";
  TrialAttempt* held = runner_ != nullptr ? runner_->Find(stop.trial_id, stop.attempt) : nullptr;
  if (held != nullptr && held->stopped_by_coordinator()) held = nullptr;
  if (stop.finish) {  // early stopping: the trial ends at its next step and reports DONE
    if (held != nullptr && !held->finishing_early()) {
      held->FinishEarly();
      LF_LOG_INFO("trial {} attempt {}: STOP{}; finishing early at the next step", stop.trial_id,
                  stop.attempt, why);
    } else {
      LF_LOG_DEBUG(
          "ignoring STOP (finish) for trial {} attempt {}: not training it, or finishing "
          "already",
          stop.trial_id, stop.attempt);
    }
    return;
  }
  if (held != nullptr) {
    outbox_->Silence(held->generation());
    held->StopForCoordinator();
    LF_LOG_INFO("trial {} attempt {}: STOP{}; checkpointing", stop.trial_id, stop.attempt, why);
    return;
  }
  for (auto it = queued_.begin(); it != queued_.end(); ++it) {
    if (it->trial_id == stop.trial_id && it->attempt == stop.attempt) {
      queued_.erase(it);
      LF_LOG_INFO("trial {} attempt {}: STOP{} before it started", stop.trial_id, stop.attempt,
                  why);
      return;
    }
  }
  LF_LOG_DEBUG("ignoring STOP for trial {} attempt {}: not held by this worker", stop.trial_id,
               stop.attempt);
}

// The first queued trial starts; in a pack, the queued trials of its key join it at once.
void Agent::StartNextTrial() {
  if (queued_.empty() || runner_ != nullptr) return;
  protocol::Assign assign = std::move(queued_.front());
  queued_.pop_front();
  if (assign.pack_key.empty() || !open_pack_) {
    runner_ = std::make_unique<TrialRunner>(next_generation_++, std::move(assign), identity_,
                                            *outbox_, train_);
  } else {
    runner_ = std::make_unique<TrialRunner>(next_generation_++, std::move(assign), identity_,
                                            *outbox_, open_pack_);
    for (auto it = queued_.begin(); it != queued_.end();) {
      if (it->pack_key == runner_->pack_key() && runner_->TryAdd(next_generation_, *it)) {
        ++next_generation_;
        it = queued_.erase(it);
      } else {
        ++it;
      }
    }
  }
  runner_->Start();
}

void Agent::ReapFinishedTrial() {
  if (runner_ == nullptr || !runner_->finished()) return;
  runner_->Join();
  runner_.reset();
  if (!shutting_down_) StartNextTrial();
}

void Agent::BeginShutdown() {
  shutting_down_ = true;
  std::string why;
  {
    std::lock_guard<std::mutex> lock(shutdown_mu_);
    why = shutdown_why_;
  }
  const size_t training = runner_ != nullptr ? runner_->Holding().size() : 0;
  if (training > 0) {
    LF_LOG_INFO("worker {}: {}: stopping {} trial(s) at the next step and checkpointing",
                identity_.worker_id, why, training);
    runner_->StopForShutdown(why);
  } else {
    LF_LOG_INFO("worker {}: {}: stopping", identity_.worker_id, why);
  }
  // Trials assigned but not started go back to the coordinator at once.
  for (const protocol::Assign& assign : queued_) {
    outbox_->Push(0, protocol::Failed{.trial_id = assign.trial_id,
                                      .attempt = assign.attempt,
                                      .reason = "worker " + identity_.worker_id + " stopped by " +
                                                why + " before the trial started",
                                      .retryable = true,
                                      .interrupted = true});
  }
  queued_.clear();
}

void Agent::SendReady(bool flush_metrics) {
  // Messages refused earlier go first, to keep their order.
  while (!unsent_.empty()) {
    if (!link_->Send(unsent_.front()).ok()) break;
    unsent_.pop_front();
  }
  for (protocol::Message& message : outbox_->Take(flush_metrics)) Send(std::move(message));
}

void Agent::SendHeartbeat() {
  protocol::Heartbeat heartbeat;
  static_cast<protocol::Hello&>(heartbeat) = HelloFor(identity_);
  if (runner_ != nullptr) {
    for (const TrialAttempt* a : runner_->Holding()) {
      heartbeat.running.push_back(a->running());
      heartbeat.tokens_per_s += a->tokens_per_s();  // a pack's trials train side by side
    }
  }
  // Assigned trials waiting for the current one are this worker's too: a restarted coordinator
  // must not hand them to another worker.
  for (const auto& q : queued_) {
    heartbeat.running.push_back({.trial_id = q.trial_id, .attempt = q.attempt, .step = 0});
  }
  Send(std::move(heartbeat));
}

void Agent::Send(protocol::Message message) {
  const bool heartbeat = std::holds_alternative<protocol::Heartbeat>(message);
  if (!unsent_.empty() && !heartbeat) {
    unsent_.push_back(std::move(message));
    return;
  }
  Status sent = link_->Send(message);
  if (sent.ok()) return;
  if (heartbeat) {  // the next one carries the same news
    LF_LOG_DEBUG("heartbeat not sent: {}", sent.ToString());
    return;
  }
  LF_LOG_WARN("{}; will retry", sent.ToString());
  unsent_.push_back(std::move(message));
}

}  // namespace lf::worker
