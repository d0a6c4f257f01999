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
  return torch::tensor(values, torch::TensorOptions().dtype(torch::kInt64))
      .view({rows, cols})
      .to(device);
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The files SaveCheckpoint writes (in a temporary folder renamed into place, state.json last).
constexpr std::array<const char*, 4> kCheckpointFiles = {"trainable.safetensors", "optimizer.pt",
                                                         "rng.safetensors", "state.json"};

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
    torch::save(*optimizer_, (tmp / "optimizer.pt").string());
    torch::Tensor rng = at::detail::getDefaultCPUGenerator().get_state();
    LF_RETURN_IF_ERROR(SaveTensors({{"cpu", rng}}, (tmp / "rng.safetensors").string()));
  } catch (const c10::Error& e) {
    return Internal("saving optimizer state to " + tmp.string() + ": " + e.what_without_backtrace());
  }
  Json state = {{"step", step}, {"losses", result_.losses}};
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
  try {
    torch::load(*optimizer_, dir + "/optimizer.pt");
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
  for (const torch::Tensor& p : params_) result_.trainable_params += p.numel();
  result_.base_params = model_.NumBaseParameters();
  optimizer_ = std::make_unique<torch::optim::AdamW>(
      params_, torch::optim::AdamWOptions(spec_.lr).weight_decay(spec_.weight_decay));
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
  for (auto& group : optimizer_->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr_);
  }
  optimizer_->zero_grad();
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

torch::Tensor TrainingRun::StepLoss(const torch::Tensor& logits, const MicroBatch& batch) const {
  const double accum = static_cast<double>(spec_.grad_accum);
  if (options_.gang == nullptr) return CausalLmLoss(logits, batch.labels) / accum;
  return CausalLmLossSum(logits, batch.labels) /
         (static_cast<double>(std::max<int64_t>(1, batch.gang_loss_tokens)) * accum);
}

Status TrainingRun::EndStep(double loss) {
  if (options_.gang != nullptr) {
    LF_RETURN_IF_ERROR(std::exchange(gang_status_, Status::Ok()));
    LF_RETURN_IF_ERROR(AllReduceGradients(*options_.gang, params_));
    torch::Tensor total = torch::tensor({loss}, torch::kFloat64);
    LF_RETURN_IF_ERROR(options_.gang->AllReduceSum(total));
    loss = total.item<double>();
  }
  if (!std::isfinite(loss)) {
    result_.stop_reason = jobs::StopReason::kDiverged;
    result_.stop_detail = std::string("the loss became ") + (std::isnan(loss) ? "NaN" : "infinite") +
                          " at step " + std::to_string(step_ + 1) +
                          "; lower train.lr or check the data";
    ended_ = true;
    return Status::Ok();
  }
  const double max_norm = spec_.max_grad_norm > 0 ? spec_.max_grad_norm
                                                  : std::numeric_limits<double>::infinity();
  const double grad_norm = torch::nn::utils::clip_grad_norm_(params_, max_norm);
  optimizer_->step();
  result_.losses.push_back(loss);
  ++step_;

  StepMetrics m{.step = step_, .loss = loss, .lr = lr_, .grad_norm = grad_norm};
  const double elapsed = Seconds(t0_);
  m.tokens_per_s = static_cast<double>(result_.train_tokens) / std::max(elapsed, 1e-9);
  if (spec_.eval_every > 0 && step_ % spec_.eval_every == 0 && !eval_.empty() &&
      step_ < spec_.steps) {
    m.eval_loss = EvaluateNow().loss;
    if (adapter_ != nullptr) adapter_->SetTraining(true);
    char line[160];
    std::snprintf(line, sizeof(line), "%s: step %lld eval loss %.4f", options_.label.c_str(),
                  static_cast<long long>(step_), *m.eval_loss);
    bar_->Message(line);
  }
  if (options_.on_step) options_.on_step(m);
  bar_->Update(step_, loss, m.tokens_per_s, elapsed);
  if (!options_.checkpoint_dir.empty() && spec_.checkpoint_every > 0 &&
      step_ % spec_.checkpoint_every == 0 && step_ < spec_.steps) {
    LF_RETURN_IF_ERROR(SaveCheckpoint(step_));
  }
  return Status::Ok();
}

Result<TrainResult> TrainingRun::Finish() {
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
  if (!eval_.empty() && result_.completed()) {
    EvalResult e = EvaluateNow();
    result_.eval_loss = e.loss;
    result_.eval_perplexity = e.perplexity;
  }
  return result_;
}

EvalResult Evaluate(CausalLm& model, const std::vector<Batch>& batches, int64_t max_batches) {
  torch::NoGradGuard no_grad;
  double loss_sum = 0;
  int64_t tokens = 0;
  const torch::Device device = model.BaseParameters().front().device();
  int64_t n = 0;
  for (const Batch& batch : batches) {
    if (max_batches > 0 && n++ >= max_batches) break;
    torch::Tensor ids = ToTensor(batch.input_ids, batch.rows, batch.seq_len, device);
    torch::Tensor labels = ToTensor(batch.labels, batch.rows, batch.seq_len, device);
    loss_sum += CausalLmLossSum(model.Forward(ids), labels).item<double>();
    tokens += (labels != -100).sum().item<int64_t>();
  }
  EvalResult r;
  r.tokens = tokens;
  r.loss = tokens > 0 ? loss_sum / static_cast<double>(tokens) : 0;
  r.perplexity = std::exp(r.loss);
  return r;
}

}  // namespace lf::worker
