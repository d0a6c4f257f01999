#include "worker/train/training_run.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <utility>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "worker/collective/collective.h"
#include "worker/model/tensor_io.h"
#include "worker/train/memory.h"
#include "worker/train/schedule.h"

namespace lf::worker {
namespace {

namespace fs = std::filesystem;
constexpr const char* kCheckpointPrefix = "checkpoint-";

torch::Tensor ToTensor(const std::vector<int64_t>& values, int64_t rows, int64_t cols,
                       const torch::Device& device) {
  torch::Tensor host =
      torch::tensor(values, torch::TensorOptions().dtype(torch::kInt64)).view({rows, cols});
  if (!device.is_cuda()) return host.to(device);
  // From pinned memory the copy is asynchronous: the step does not wait for it.
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The files SaveCheckpoint writes (in a temporary folder renamed into place, state.json last).
constexpr std::array<const char*, 4> kCheckpointFiles = {
    "trainable.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"};

// The newest complete checkpoint folder in `dir`, or "" when there is none. A folder is written
// whole, but removing one (remove_all: file by file, in directory order) can be cut short by a
// SIGKILL, leaving state.json without the tensors: complete means every file is there.
std::string NewestCheckpoint(const std::string& dir) {
  std::error_code ec;
  int64_t best = -1;
  std::string best_path;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kCheckpointPrefix, 0) != 0) continue;
    if (!std::all_of(kCheckpointFiles.begin(), kCheckpointFiles.end(),
                     [&](const char* f) {
                       std::error_code missing;
                       return fs::exists(entry.path() / f, missing);
                     })) {
      continue;
    }
    try {
      int64_t step = std::stoll(name.substr(std::string(kCheckpointPrefix).size()));
      if (step > best) {
        best = step;
        best_path = entry.path().string();
      }
    } catch (const std::exception&) {
    }
  }
  return best_path;
}

}  // namespace

TrainingRun::TrainingRun(CausalLm& model, Adapter* adapter, const jobs::TrainSpec& spec,
                         TrainerOptions options, PackedLoader& train,
                         const std::vector<Batch>& eval, bool shared)
    : model_(model),
      adapter_(adapter),
      spec_(spec),
      options_(std::move(options)),
      train_(train),
      eval_(eval),
      shared_(shared) {}

TrainingRun::~TrainingRun() = default;

std::vector<torch::Tensor> TrainingRun::Trainable() {
  return adapter_ != nullptr ? adapter_->Parameters() : model_.BaseParameters();
}

std::map<std::string, torch::Tensor> TrainingRun::TrainableState() const {
  return adapter_ != nullptr ? adapter_->TrainingState() : model_.StateDict();
}

EvalResult TrainingRun::EvaluateNow() {
  // In a pack the model's hook is the pack's; this run's adapter alone is evaluated.
  std::optional<ScopedHook> attached;
  if (adapter_ != nullptr) {
    attached.emplace(model_, adapter_);
    adapter_->SetTraining(false);
  }
  return Evaluate(model_, eval_, spec_.eval_batches);
}

Status TrainingRun::SaveCheckpoint(int64_t step) {
  // A gang's members hold the same state: rank 0 writes it, for all of them to resume from.
  if (options_.gang != nullptr && options_.gang->rank() != 0) return Status::Ok();
  const fs::path dir = options_.checkpoint_dir;
  const fs::path final_dir = dir / (kCheckpointPrefix + std::to_string(step));
  const fs::path tmp = dir / (".tmp-" + std::string(kCheckpointPrefix) + std::to_string(step));
  std::error_code ec;
  fs::remove_all(tmp, ec);
  LF_RETURN_IF_ERROR(CreateDirectories(tmp.string()));
  std::map<std::string, torch::Tensor> tensors;
  for (auto& [name, t] : TrainableState()) tensors[name] = t.detach().to(torch::kCPU).contiguous();
  LF_RETURN_IF_ERROR(SaveTensors(tensors, (tmp / "trainable.safetensors").string()));
  try {
    std::map<std::string, torch::Tensor> optimizer;
    for (auto& [name, t] : optimizer_->State()) optimizer[name] = t.to(torch::kCPU).contiguous();
    LF_RETURN_IF_ERROR(SaveTensors(optimizer, (tmp / "optimizer.safetensors").string()));
    torch::Tensor rng = at::detail::getDefaultCPUGenerator().get_state();
    LF_RETURN_IF_ERROR(SaveTensors({{"cpu", rng}}, (tmp / "rng.safetensors").string()));
  } catch (const c10::Error& e) {
    return Internal("saving optimizer state to " + tmp.string() + ": " + e.what_without_backtrace());
  }
  Json state = {{"step", step}, {"losses", result_.losses}};
  if (scaler_.enabled()) {
    state["loss_scale"] = scaler_.scale();
    state["loss_scale_good_steps"] = scaler_.good_steps();
    state["overflow_skipped_steps"] = result_.overflow_skipped_steps;
  }
  LF_RETURN_IF_ERROR(WriteFileAtomically((tmp / "state.json").string(), state.dump()));
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return Internal("renaming checkpoint " + tmp.string() + ": " + ec.message());
  // Keep the two newest: the one just written and its predecessor.
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kCheckpointPrefix, 0) != 0) continue;
    int64_t s = std::stoll(name.substr(std::string(kCheckpointPrefix).size()));
    if (s < step - std::max<int64_t>(1, spec_.checkpoint_every)) fs::remove_all(entry.path(), ec);
  }
  if (options_.on_checkpoint) options_.on_checkpoint(step, final_dir.string());
  return Status::Ok();
}

Result<int64_t> TrainingRun::RestoreCheckpoint() {
  const std::string dir = NewestCheckpoint(options_.checkpoint_dir);
  if (dir.empty()) return int64_t{0};
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir + "/state.json", kMaxSettingsFileBytes));
  LF_ASSIGN_OR_RETURN(Json state, ParseJson(text, dir + "/state.json"));
  JsonField root(state, FieldPath());
  LF_ASSIGN_OR_RETURN(int64_t step, root.IntAt("step", {.min = 0, .max = spec_.steps}));
  LF_ASSIGN_OR_RETURN(safetensors::File file,
                      safetensors::File::Open(dir + "/trainable.safetensors"));
  LF_ASSIGN_OR_RETURN(auto tensors, LoadAllTensors(file));
  Status loaded;
  if (adapter_ != nullptr) {
    auto options = params_.front().options();
    for (auto& [k, t] : tensors) t = t.to(options.device(), options.dtype());
    loaded = adapter_->LoadTrainingState(tensors, dir);
  } else {
    loaded = model_.LoadStateDict(tensors, dir);
  }
  if (!loaded.ok()) {
    return loaded.WithContext("the checkpoint does not fit this job (was the job changed?); "
                              "start over with --no-resume or use another output folder");
  }
  std::vector<double> history;
  LF_ASSIGN_OR_RETURN(JsonField losses_field, root.Required("losses"));
  LF_ASSIGN_OR_RETURN(auto elements, losses_field.Elements());
  for (const JsonField& e : elements) {
    LF_ASSIGN_OR_RETURN(double l, e.Number());
    history.push_back(l);
  }
  if (scaler_.enabled()) {
    LF_ASSIGN_OR_RETURN(double scale, root.NumberOr("loss_scale", scaler_.scale(),
                                                    {.min = 0, .exclusive_min = true}));
    LF_ASSIGN_OR_RETURN(int64_t good, root.IntOr("loss_scale_good_steps", 0, {.min = 0}));
    scaler_.Restore(scale, good);
    LF_ASSIGN_OR_RETURN(result_.overflow_skipped_steps,
                        root.IntOr("overflow_skipped_steps", 0, {.min = 0}));
  }
  try {
    LF_ASSIGN_OR_RETURN(safetensors::File optimizer_file,
                        safetensors::File::Open(dir + "/optimizer.safetensors"));
    LF_ASSIGN_OR_RETURN(auto optimizer, LoadAllTensors(optimizer_file));
    const torch::Device device = params_.front().device();
    for (auto& [name, t] : optimizer) t = t.to(device);
    LF_RETURN_IF_ERROR(optimizer_->Load(optimizer, dir + "/optimizer.safetensors"));
    if (!shared_) {
      LF_ASSIGN_OR_RETURN(safetensors::File rng_file,
                          safetensors::File::Open(dir + "/rng.safetensors"));
      LF_ASSIGN_OR_RETURN(torch::Tensor rng, LoadTensor(rng_file, "cpu"));
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
  } catch (const c10::Error& e) {
    return DataLoss("restoring " + dir + ": " + e.what_without_backtrace());
  }
  result_.losses = std::move(history);
  return step;
}

Status TrainingRun::Begin() {
  if (adapter_ == nullptr) model_.SetBaseTrainable(true);
  params_ = Trainable();
  // The model computes in the dtype it is stored in (RunTrainJob loads it in the job's precision).
  // An adapter's tensors stay fp32 whatever that is: master weights, which AdamW updates in fp32
  // and the forward pass reads through InDtypeOf. (Full fine-tuning trains in bf16 or fp16 only
  // when a caller loads the model so; TrainPrecision keeps jobs from it.)
  result_.precision = PrecisionOf(model_.BaseParameters().front().scalar_type());
  if (adapter_ != nullptr && result_.precision != jobs::Precision::kFp32) {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : params_) {
      if (p.is_floating_point() && p.scalar_type() != torch::kFloat32) {
        p.set_data(p.detach().to(torch::kFloat32));
      }
    }
  }
  scaler_ = LossScaler(result_.precision == jobs::Precision::kFp16);
  // In a pack every member asks for the same (jobs::PackKey), so whoever begins first decides.
  if (spec_.gradient_checkpointing) model_.SetGradientCheckpointing(true);
  for (const torch::Tensor& p : params_) result_.trainable_params += p.numel();
  result_.base_params = model_.NumBaseParameters();
  optimizer_ = std::make_unique<ForeachAdamW>(
      params_, AdamWOptions{.lr = spec_.lr, .weight_decay = spec_.weight_decay});
  sync_every_ = options_.sync_every > 0              ? options_.sync_every
                : params_.front().device().is_cuda() ? spec_.log_every
                                                     : 1;
  if (!options_.checkpoint_dir.empty()) {
    LF_RETURN_IF_ERROR(CreateDirectories(options_.checkpoint_dir));
    if (options_.resume) {
      LF_ASSIGN_OR_RETURN(step_, RestoreCheckpoint());
    }
  }
  result_.resumed_from_step = step_;
  if (step_ > 0) result_.resumed_from_checkpoint = NewestCheckpoint(options_.checkpoint_dir);
  train_.SeekToStep(step_ * spec_.grad_accum);
  if (!eval_.empty()) result_.initial_eval_loss = EvaluateNow().loss;
  if (adapter_ != nullptr) adapter_->SetTraining(true);

  bar_.emplace(options_.label, spec_.steps, spec_.log_every, options_.progress);
  if (step_ > 0) {
    bar_->Message(options_.label + ": resumed from the checkpoint at step " +
                  std::to_string(step_));
  }
  if (!shared_) ResetPeakMemory();
  t0_ = std::chrono::steady_clock::now();
  result_.stop_reason = jobs::StopReason::kCompleted;
  return Status::Ok();
}

bool TrainingRun::BeginStep() {
  if (ended_ || step_ >= spec_.steps) return false;
  bool stop = options_.stop_requested && options_.stop_requested();
  bool finish = options_.finish_requested && options_.finish_requested();
  if (options_.gang != nullptr) {  // every member stops at the same step, or none does
    torch::Tensor flags = torch::tensor({int64_t{stop}, int64_t{finish}}, torch::kInt64);
    if (Status st = options_.gang->AllReduceSum(flags); !st.ok()) {
      gang_status_ = st;
      ended_ = true;
      return false;
    }
    stop = flags[0].item<int64_t>() > 0;
    finish = flags[1].item<int64_t>() > 0;
  }
  if (stop) {
    result_.stop_reason = jobs::StopReason::kStopped;
    ended_ = true;
    return false;
  }
  if (finish) {
    result_.stop_reason = jobs::StopReason::kEarlyStopped;
    ended_ = true;
    return false;
  }
  lr_ = LearningRateAt(spec_, step_);
  optimizer_->set_lr(lr_);
  optimizer_->ZeroGrad();
  return true;
}

MicroBatch TrainingRun::NextMicroBatch() {
  Batch batch = train_.Next();
  result_.train_tokens += batch.tokens;
  const torch::Device device = params_.front().device();
  MicroBatch out{.input_ids = ToTensor(batch.input_ids, batch.rows, batch.seq_len, device),
                 .labels = ToTensor(batch.labels, batch.rows, batch.seq_len, device),
                 .tokens = batch.tokens};
  if (!batch.document_ids.empty()) {
    out.document_ids = ToTensor(batch.document_ids, batch.rows, batch.seq_len, device);
  }
  if (options_.gang != nullptr) {
    torch::Tensor tokens = torch::tensor({batch.loss_tokens}, torch::kInt64);
    if (Status st = options_.gang->AllReduceSum(tokens); !st.ok() && gang_status_.ok()) {
      gang_status_ = st;
    }
    out.gang_loss_tokens = tokens.item<int64_t>();
  }
  return out;
}

torch::Tensor TrainingRun::StepLoss(const LmHeadInput& head, const MicroBatch& batch) const {
  const double accum = static_cast<double>(spec_.grad_accum);
  if (options_.gang == nullptr) return LmHeadLoss(head, batch.labels) / accum;
  return LmHeadLossSum(head, batch.labels) /
         (static_cast<double>(std::max<int64_t>(1, batch.gang_loss_tokens)) * accum);
}

Status TrainingRun::EndStep(const torch::Tensor& step_loss) {
  torch::Tensor loss = step_loss.detach().to(torch::kFloat64);
  if (options_.gang != nullptr) {
    LF_RETURN_IF_ERROR(std::exchange(gang_status_, Status::Ok()));
    LF_RETURN_IF_ERROR(AllReduceGradients(*options_.gang, params_));
    torch::Tensor total = loss.to(torch::kCPU).reshape({1});
    LF_RETURN_IF_ERROR(options_.gang->AllReduceSum(total));
    loss = total.reshape({});
  }
  const double max_norm = spec_.max_grad_norm > 0 ? spec_.max_grad_norm
                                                  : std::numeric_limits<double>::infinity();
  torch::Tensor grad_norm;
  if (scaler_.Unscale(params_)) {
    grad_norm = ClipGradNorm(params_, max_norm);
    optimizer_->Step();
  } else {
    ++result_.overflow_skipped_steps;  // fp16 gradients overflowed: the scale was halved
    grad_norm = torch::full({}, std::numeric_limits<double>::infinity());
  }
  ++step_;
  const double elapsed = Seconds(t0_);
  pending_.push_back({.metrics = {.step = step_,
                                  .lr = lr_,
                                  .tokens_per_s = static_cast<double>(result_.train_tokens) /
                                                  std::max(elapsed, 1e-9)},
                      .loss = loss,
                      .grad_norm = grad_norm,
                      .elapsed_s = elapsed});
  const bool eval_due = spec_.eval_every > 0 && step_ % spec_.eval_every == 0 && !eval_.empty() &&
                        step_ < spec_.steps;
  const bool checkpoint_due = !options_.checkpoint_dir.empty() && spec_.checkpoint_every > 0 &&
                              step_ % spec_.checkpoint_every == 0 && step_ < spec_.steps;
  if (eval_due) {  // reported with this step's metrics
    std::optional<double>& eval_loss = pending_.back().metrics.eval_loss;
    eval_loss = EvaluateNow().loss;
    if (adapter_ != nullptr) adapter_->SetTraining(true);
    char line[160];
    std::snprintf(line, sizeof(line), "%s: step %lld eval loss %.4f", options_.label.c_str(),
                  static_cast<long long>(step_), *eval_loss);
    bar_->Message(line);
  }
  if (eval_due || checkpoint_due || step_ >= spec_.steps || step_ % sync_every_ == 0) ReadBack();
  if (ended_) return Status::Ok();  // diverged
  if (checkpoint_due) LF_RETURN_IF_ERROR(SaveCheckpoint(step_));
  return Status::Ok();
}

void TrainingRun::ReadBack() {
  if (pending_.empty()) return;
  std::vector<torch::Tensor> values;
  for (const PendingStep& p : pending_) {
    values.push_back(p.loss.to(torch::kFloat64).reshape({}));
    values.push_back(p.grad_norm.to(torch::kFloat64).reshape({}));
  }
  const torch::Tensor host = torch::stack(values).to(torch::kCPU);  // the one wait for the device
  const auto read = host.accessor<double, 1>();
  std::vector<PendingStep> steps = std::exchange(pending_, {});
  for (size_t i = 0; i < steps.size(); ++i) {
    StepMetrics& m = steps[i].metrics;
    m.loss = read[2 * i];
    m.grad_norm = read[2 * i + 1];
    if (!std::isfinite(m.loss)) {
      result_.stop_reason = jobs::StopReason::kDiverged;
      result_.stop_detail = std::string("the loss became ") +
                            (std::isnan(m.loss) ? "NaN" : "infinite") + " at step " +
                            std::to_string(m.step) + "; lower train.lr or check the data";
      step_ = m.step - 1;  // the steps from there on trained on garbage
      ended_ = true;
      return;
    }
    result_.losses.push_back(m.loss);
    if (options_.on_step) options_.on_step(m);
    bar_->Update(m.step, m.loss, m.tokens_per_s, steps[i].elapsed_s);
  }
}

Result<TrainResult> TrainingRun::Finish() {
  ReadBack();
  bar_->Finish();
  if (!gang_status_.ok()) return gang_status_;  // the gang broke up: no result to trust
  result_.steps = step_;
  if (result_.stop_reason == jobs::StopReason::kStopped && !options_.checkpoint_dir.empty()) {
    LF_RETURN_IF_ERROR(SaveCheckpoint(step_));
  }
  result_.wall_s = Seconds(t0_);
  result_.tokens_per_s = static_cast<double>(result_.train_tokens) / std::max(result_.wall_s, 1e-9);
  result_.peak_memory_bytes = PeakMemoryBytes();
  const size_t tail = std::min<size_t>(10, result_.losses.size());
  for (size_t i = result_.losses.size() - tail; i < result_.losses.size(); ++i) {
    result_.final_train_loss += result_.losses[i] / static_cast<double>(tail);
  }
  if (adapter_ != nullptr) adapter_->SetTraining(false);
  if (adapter_ == nullptr) model_.SetBaseTrainable(false);
  if (!shared_) model_.SetGradientCheckpointing(false);
  if (!eval_.empty() && result_.completed()) {
    EvalResult e = EvaluateNow();
    result_.eval_loss = e.loss;
    result_.eval_perplexity = e.perplexity;
  }
  return result_;
}

EvalResult Evaluate(CausalLm& model, const std::vector<Batch>& batches, int64_t max_batches) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss_sum, token_count;  // on the device until the end: one wait, not one a batch
  const torch::Device device = model.BaseParameters().front().device();
  int64_t n = 0;
  for (const Batch& batch : batches) {
    if (max_batches > 0 && n++ >= max_batches) break;
    torch::Tensor ids = ToTensor(batch.input_ids, batch.rows, batch.seq_len, device);
    torch::Tensor labels = ToTensor(batch.labels, batch.rows, batch.seq_len, device);
    torch::Tensor loss = LmHeadLossSum(model.ForwardHidden(ids, {}), labels).to(torch::kFloat64);
    torch::Tensor count = (labels != -100).sum();
    loss_sum = loss_sum.defined() ? loss_sum + loss : loss;
    token_count = token_count.defined() ? token_count + count : count;
  }
  const double sum = loss_sum.defined() ? loss_sum.item<double>() : 0;
  const int64_t tokens = token_count.defined() ? token_count.item<int64_t>() : 0;
  EvalResult r;
  r.tokens = tokens;
  r.loss = tokens > 0 ? sum / static_cast<double>(tokens) : 0;
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace lf::worker
