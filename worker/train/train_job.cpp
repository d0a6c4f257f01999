// RunTrainJob, OpenTrainPack and Pretrain: from a job description to a trained adapter (or base
// model) on disk.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>

#include "common/file_util.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "common/version.h"
#include "jobs/packing.h"
#include "worker/chat/chat_template.h"
#include "worker/collective/collective.h"
#include "worker/data/batch.h"
#include "worker/data/jsonl_reader.h"
#include "worker/data/packed_loader.h"
#include "worker/model/causal_lm.h"
#include "worker/peft/adapter.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/tokenizer/tokenizer_files.h"
#include "worker/train/packed_trainer.h"
#include "worker/train/precision.h"
#include "worker/train/trainer.h"
#include "worker/worker_api.h"

namespace lf::worker {
namespace {

// "cpu", "cuda", "cuda:1": where a job's model goes (TrainJobOptions::device).
Result<torch::Device> ParseDevice(const std::string& name) {
  try {
    return torch::Device(name);
  } catch (const c10::Error& e) {
    return InvalidArgument("device '" + name + "': " + e.what_without_backtrace() +
                           "; expected cpu or cuda:N");
  }
}

namespace fs = std::filesystem;

struct LoadedData {
  PackedLoader train;
  std::vector<Batch> eval;
  std::vector<Batch> general;  // data.general_eval
  std::vector<jobs::DataLineage> lineage;
};

jobs::DataLineage Lineage(const DataFileInfo& info) {
  return jobs::DataLineage{info.path, info.sha256, info.stats.examples, info.stats.tokens};
}

// The base model's identity for lineage: the SHA-256 of config.json and of every weight file,
// and one digest over those. Weights can be large, so a worker process hashes each folder once
// and reuses the result while the files' sizes and modification times stay the same.
Result<Json> BaseModelLineage(const std::string& model_dir) {
  static std::mutex mu;
  static std::map<std::string, std::pair<std::string, Json>> cache;  // dir -> (stamp, lineage)
  const fs::path dir = fs::absolute(model_dir).lexically_normal();
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool weights = name.rfind("model", 0) == 0 && (name.ends_with(".safetensors") ||
                                                         name.ends_with(".safetensors.index.json"));
    if (entry.is_regular_file() && (name == "config.json" || weights)) files.push_back(entry.path());
  }
  if (ec) return NotFound("reading the model folder " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::string stamp;
  for (const fs::path& f : files) {
    stamp += f.filename().string() + ":" + std::to_string(fs::file_size(f, ec)) + ":" +
             std::to_string(fs::last_write_time(f, ec).time_since_epoch().count()) + ";";
  }
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache.find(dir.string()); it != cache.end() && it->second.first == stamp) {
    return it->second.second;
  }
  Json list = Json::array();
  std::string manifest;
  for (const fs::path& f : files) {
    LF_ASSIGN_OR_RETURN(std::string digest, Sha256FileHex(f.string()));
    list.push_back({{"name", f.filename().string()}, {"sha256", digest}});
    manifest += f.filename().string() + " " + digest + "\n";
  }
  Json lineage = {{"path", dir.string()}, {"sha256", Sha256Hex(manifest)}, {"files", list}};
  cache[dir.string()] = {stamp, lineage};
  return lineage;
}

// What a job's data files are read with: its chat template (data.chat_template, else the base
// model's own, else none) and data.train_on.
struct DataReading {
  std::optional<ChatTemplate> chat;
  jobs::TrainOn train_on = jobs::TrainOn::kAssistant;
  int32_t pad_id = 0;  // pads evaluation rows and unpacked training rows
  JsonlOptions options() const {
    return {.chat_template = chat ? &*chat : nullptr, .train_on = train_on};
  }
};

Result<DataReading> PrepareDataReading(const jobs::DataSpec& data, const Tokenizer& tokenizer,
                                       const std::string& base_model) {
  DataReading reading{.train_on = data.train_on,
                      .pad_id = tokenizer.pad_id().value_or(tokenizer.eos_id().value_or(0))};
  LF_ASSIGN_OR_RETURN(reading.chat, LoadChatTemplate(tokenizer, data.chat_template, base_model));
  return reading;
}

// An eval file as fixed batches (one example per row, right-padded), its lineage appended to
// `lineage`.
Result<std::vector<Batch>> LoadEvalBatches(const std::string& path, const Tokenizer& tokenizer,
                                           const DataReading& reading, int64_t seq_len,
                                           const jobs::TrainSpec& train,
                                           std::vector<jobs::DataLineage>* lineage) {
  DataFileInfo info;
  LF_ASSIGN_OR_RETURN(auto examples, LoadJsonlExamples(path, tokenizer, reading.options(), &info));
  lineage->push_back(Lineage(info));
  return EvalBatches(examples, seq_len, train.batch_size, reading.pad_id);
}

// data.packing: auto is documents for chat data and the stream otherwise; the stream would let
// one conversation attend to another, so chat data refuses it.
Result<jobs::DataPacking> ResolvePacking(const jobs::DataSpec& data, const DataFileInfo& info) {
  if (data.packing == jobs::DataPacking::kAuto) {
    return info.chat_examples > 0 ? jobs::DataPacking::kDocuments : jobs::DataPacking::kStream;
  }
  if (data.packing == jobs::DataPacking::kStream && info.chat_examples > 0) {
    return InvalidArgument("job.data.packing: stream would let one chat example attend to "
                           "another, and " + info.path + " has " +
                           std::to_string(info.chat_examples) +
                           " chat examples; use documents (the default for chat data) or pad");
  }
  return data.packing;
}

// In a gang, the loader gives this member (`rank` of `world`) its rows of every step.
Result<LoadedData> LoadData(const jobs::DataSpec& data, const Tokenizer& tokenizer,
                            const std::string& base_model, const jobs::TrainSpec& train,
                            int rank = 0, int world = 1) {
  LF_ASSIGN_OR_RETURN(DataReading reading, PrepareDataReading(data, tokenizer, base_model));
  DataFileInfo info;
  LF_ASSIGN_OR_RETURN(auto examples,
                      LoadJsonlExamples(data.train, tokenizer, reading.options(), &info));
  std::vector<jobs::DataLineage> lineage = {Lineage(info)};
  LF_ASSIGN_OR_RETURN(jobs::DataPacking packing, ResolvePacking(data, info));
  LF_ASSIGN_OR_RETURN(PackedLoader loader,
                      PackedLoader::Create(std::move(examples), {.seq_len = data.seq_len,
                                                                 .batch_size = train.batch_size,
                                                                 .seed = train.seed,
                                                                 .rank = rank,
                                                                 .world = world,
                                                                 .packing = packing,
                                                                 .pad_id = reading.pad_id}));
  std::vector<Batch> eval, general;
  if (!data.eval.empty()) {
    LF_ASSIGN_OR_RETURN(eval, LoadEvalBatches(data.eval, tokenizer, reading, data.seq_len, train,
                                              &lineage));
  }
  if (!data.general_eval.empty()) {
    LF_ASSIGN_OR_RETURN(general, LoadEvalBatches(data.general_eval, tokenizer, reading,
                                                 data.seq_len, train, &lineage));
  }
  return LoadedData{std::move(loader), std::move(eval), std::move(general), std::move(lineage)};
}

// Writes each step's metrics to <output>/metrics.jsonl as the run goes: appended when the run
// resumes from a checkpoint (steps replayed since that checkpoint appear again), rewritten when
// it starts over.
std::function<void(const StepMetrics&)> MetricsWriter(const std::string& out_dir, bool resume,
                                                      std::function<void(const StepMetrics&)> next) {
  const fs::path checkpoints = fs::path(out_dir) / "checkpoints";
  std::error_code ec;
  const bool resuming = resume && fs::exists(checkpoints, ec) && !fs::is_empty(checkpoints, ec);
  auto out = std::make_shared<std::ofstream>((fs::path(out_dir) / "metrics.jsonl").string(),
                                             resuming ? std::ios::app : std::ios::trunc);
  return [out, next = std::move(next)](const StepMetrics& m) {
    Json line = {{"step", m.step}, {"loss", m.loss}, {"lr", m.lr}, {"grad_norm", m.grad_norm},
                 {"tokens_per_s", m.tokens_per_s}};
    if (m.eval_loss) line["eval_loss"] = *m.eval_loss;
    *out << line.dump() << "\n";
    out->flush();
    if (next) next(m);
  };
}

// The options both jobs train with. The checkpoint folder is always set: a stopped run
// checkpoints there even without train.checkpoint_every. A gang's members other than rank 0
// (`writer` false) neither write metrics.jsonl nor show progress.
TrainerOptions JobTrainerOptions(const std::string& out, std::string label,
                                 const TrainJobOptions& options, bool writer = true) {
  return {.label = std::move(label),
          .progress = options.progress && writer,
          .checkpoint_dir = (fs::path(out) / "checkpoints").string(),
          .resume = options.resume,
          .on_step = writer ? MetricsWriter(out, options.resume, options.on_step) : options.on_step,
          .on_checkpoint = options.on_checkpoint,
          .stop_requested = options.stop_requested,
          .finish_requested = options.finish_requested};
}

// Once the result is saved, checkpoints are no longer needed.
void RemoveCheckpoints(const TrainerOptions& options) {
  std::error_code ec;
  fs::remove_all(options.checkpoint_dir, ec);
}

// Full fine-tuning's output: the whole model as a Hugging Face folder (config.json,
// model.safetensors) with the base model's tokenizer files beside it, loadable as a base model.
Status SaveFullModel(const CausalLm& model, const std::string& base_model, const std::string& dir) {
  LF_RETURN_IF_ERROR(CreateDirectories(dir));
  LF_RETURN_IF_ERROR(SaveCausalLm(model, dir));
  return CopyTokenizerFiles(base_model, dir);
}

Result<std::string> OutputDir(const std::string& output) {
  if (output.empty()) {
    return InvalidArgument("job.output: required to know where the adapter goes (or pass --out)");
  }
  LF_RETURN_IF_ERROR(CreateDirectories(output));
  return output;
}

// What a job trains on beside its model: its output folder, its data, and its forgetting set
// with the untouched base's score on it.
struct JobInputs {
  std::string out;
  LoadedData data;
  std::vector<Batch> general;
  std::optional<double> general_base;
};

// The forgetting set's base score is taken with the model's hook set aside, so in a pack the other
// trials' adapters do not count; it must run before this job's adapter exists (QLoRA's replaces
// the base weights).
Result<JobInputs> LoadJobInputs(const jobs::JobSpec& job, CausalLm& model,
                                const Tokenizer& tokenizer, const Collective* gang = nullptr) {
  LF_ASSIGN_OR_RETURN(std::string out, OutputDir(job.output));
  if (job.data.seq_len > model.config().max_positions) {
    return InvalidArgument("job.data.seq_len: " + std::to_string(job.data.seq_len) +
                           " is longer than the model's context of " +
                           std::to_string(model.config().max_positions) + " tokens");
  }
  LF_ASSIGN_OR_RETURN(LoadedData data, LoadData(job.data, tokenizer, job.base_model, job.train,
                                                gang ? gang->rank() : 0, gang ? gang->size() : 1));
  JobInputs inputs{.out = std::move(out), .data = std::move(data)};
  if (!inputs.data.general.empty()) {
    inputs.general = std::move(inputs.data.general);
    ScopedHook base_alone(model, nullptr);
    inputs.general_base = Evaluate(model, inputs.general, job.train.eval_batches).loss;
  }
  return inputs;
}

// After training: the forgetting score, the adapter (full fine-tuning: the model) saved and the
// checkpoints removed once the run completed, and result.json in every case.
Status FinishJob(const jobs::JobSpec& job, CausalLm& model, Adapter* adapter,
                 const JobInputs& inputs, const Json& base_lineage,
                 const TrainerOptions& trainer_options, TrainJobResult* result) {
  TrainResult& r = result->train;
  r.data = inputs.data.lineage;
  r.base_model = base_lineage;
  r.job = job;
  r.lorafleet_version = kVersion;
  if (!inputs.general.empty() && r.completed()) {
    ScopedHook attached(model, adapter);  // full fine-tuning: the trained base alone
    r.general_eval_loss_base = inputs.general_base;
    r.general_eval_loss = Evaluate(model, inputs.general, job.train.eval_batches).loss;
  }
  if (r.completed() && adapter == nullptr) {
    r.adapter_dir = (fs::path(inputs.out) / "model").string();
    LF_RETURN_IF_ERROR(SaveFullModel(model, job.base_model, r.adapter_dir));
    r.adapter_bytes =
        static_cast<int64_t>(fs::file_size(fs::path(r.adapter_dir) / "model.safetensors"));
    RemoveCheckpoints(trainer_options);
  } else if (r.completed()) {
    r.adapter_dir = (fs::path(inputs.out) / "adapter").string();
    LF_RETURN_IF_ERROR(SaveAdapter(*adapter, r.adapter_dir,
                                   fs::absolute(job.base_model).lexically_normal().string()));
    r.adapter_bytes = static_cast<int64_t>(
        fs::file_size(fs::path(r.adapter_dir) / "adapter_model.safetensors"));
    RemoveCheckpoints(trainer_options);
  }
  return WriteFileAtomically((fs::path(inputs.out) / "result.json").string(),
                             jobs::TrialResultToJson(r).dump(2) + "\n");
}

// This process's gang for the job: its communicator, given up on (Unavailable) when a stop has
// been requested for gang_abandon_after_ms and the others still do not answer.
Result<std::unique_ptr<Collective>> JoinGang(const TrainJobOptions& options,
                                             const torch::Device& device) {
  GangSpec spec{.world_ranks = options.gang_world_ranks, .tag = options.gang_tag};
  if (options.stop_requested) {
    using Clock = std::chrono::steady_clock;
    auto stopped_at = std::make_shared<std::optional<Clock::time_point>>();
    const auto grace = std::chrono::milliseconds(options.gang_abandon_after_ms);
    spec.abandon = [stop = options.stop_requested, stopped_at, grace] {
      if (!stop()) return false;
      if (!*stopped_at) *stopped_at = Clock::now();
      return Clock::now() - **stopped_at > grace;
    };
  }
  return CreateCollective(spec, device);
}

class LoraTrainPack final : public TrainPack {
 public:
  LoraTrainPack(std::string key, std::unique_ptr<CausalLm> model,
                std::unique_ptr<Tokenizer> tokenizer, Json base_lineage)
      : key_(std::move(key)),
        model_(std::move(model)),
        tokenizer_(std::move(tokenizer)),
        base_lineage_(std::move(base_lineage)),
        trainer_(std::make_unique<PackedTrainer>(*model_)) {}
  ~LoraTrainPack() override { trainer_.reset(); }  // its runs refer to the members

  Status Add(const std::string& id, const jobs::JobSpec& job,
             const TrainJobOptions& options) override {
    if (jobs::PackKey(job) != key_) {
      return FailedPrecondition("trial " + id + " (" + std::string(jobs::MethodName(job.method)) +
                                " on " + job.base_model + ", data.seq_len " +
                                std::to_string(job.data.seq_len) + ") cannot join a pack of " +
                                key_ + "; it trains alone");
    }
    if (members_.count(id)) return AlreadyExists("trial " + id + " is already in the pack");
    LF_ASSIGN_OR_RETURN(JobInputs inputs, LoadJobInputs(job, *model_, *tokenizer_));
    Result<std::unique_ptr<Adapter>> adapter = CreateAdapter(*model_, job, job.train.seed);
    if (!adapter.ok()) return adapter.status();
    const std::string label = fs::path(inputs.out).filename().string();
    TrainerOptions trainer_options = JobTrainerOptions(inputs.out, label, options);
    auto member = std::make_unique<Member>(Member{.job = job,
                                                  .inputs = std::move(inputs),
                                                  .adapter = std::move(adapter).value(),
                                                  .trainer_options = std::move(trainer_options)});
    member->trainer_options.progress = false;  // several bars on one terminal say nothing
    const std::vector<Batch>& eval = member->inputs.data.eval;
    LF_RETURN_IF_ERROR(trainer_->Add({.id = id,
                                      .adapter = member->adapter.get(),
                                      .spec = job.train,
                                      .options = member->trainer_options,
                                      .train = &member->inputs.data.train,
                                      .eval = eval.empty() ? nullptr : &eval}));
    members_.emplace(id, std::move(member));
    return Status::Ok();
  }

  std::vector<Finished> Step() override {
    std::vector<Finished> out;
    for (PackResult& r : trainer_->Step()) {
      auto it = members_.find(r.id);
      LF_CHECK_MSG(it != members_.end(), "the pack returned unknown trial " + r.id);
      Member& m = *it->second;
      Finished finished{.id = r.id, .result = r.result.status()};
      if (r.result.ok()) {
        TrainJobResult result;
        result.train = std::move(r.result).value();
        Status st = FinishJob(m.job, *model_, m.adapter.get(), m.inputs, base_lineage_,
                              m.trainer_options, &result);
        finished.result =
            st.ok() ? Result<TrainJobResult>(std::move(result)) : Result<TrainJobResult>(st);
      }
      members_.erase(it);
      out.push_back(std::move(finished));
    }
    return out;
  }

  size_t size() const override { return trainer_->size(); }

 private:
  struct Member {
    jobs::JobSpec job;
    JobInputs inputs;
    std::unique_ptr<Adapter> adapter;
    TrainerOptions trainer_options;
  };

  const std::string key_;
  std::unique_ptr<CausalLm> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  const Json base_lineage_;
  std::map<std::string, std::unique_ptr<Member>> members_;
  std::unique_ptr<PackedTrainer> trainer_;
};

}  // namespace

Result<TrainJobResult> RunTrainJob(const jobs::JobSpec& job, const TrainJobOptions& options) {
  LF_ASSIGN_OR_RETURN(torch::Device device, ParseDevice(options.device));
  LF_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, LoadModelToTrain(job, device));
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(job.base_model));
  LF_ASSIGN_OR_RETURN(Json base_lineage, BaseModelLineage(job.base_model));
  std::unique_ptr<Collective> gang;
  if (!options.gang_world_ranks.empty()) {
    LF_ASSIGN_OR_RETURN(gang, JoinGang(options, model->BaseParameters().front().device()));
  }
  const bool writer = gang == nullptr || gang->rank() == 0;  // of metrics, checkpoints, outputs
  LF_ASSIGN_OR_RETURN(JobInputs inputs, LoadJobInputs(job, *model, *tokenizer, gang.get()));
  // Full fine-tuning has no adapter: the trainer then trains every base weight.
  std::unique_ptr<Adapter> adapter;
  if (job.method != jobs::Method::kFull) {
    LF_ASSIGN_OR_RETURN(adapter, CreateAdapter(*model, job, job.train.seed));
  }
  // Declared after the adapter, so the model lets go of it before it is destroyed.
  ScopedHook attached(*model, adapter.get());
  if (adapter != nullptr) {
    // Soft prompts and prefixes take positions before the real tokens.
    const int64_t virtual_tokens = model->VirtualTokens();
    if (job.data.seq_len + virtual_tokens > model->config().max_positions) {
      return InvalidArgument("job.data.seq_len: " + std::to_string(job.data.seq_len) + " plus " +
                             std::to_string(virtual_tokens) + " virtual tokens of " +
                             std::string(jobs::MethodName(job.method)) +
                             " is longer than the model's context of " +
                             std::to_string(model->config().max_positions) +
                             " tokens; shorten seq_len or num_virtual_tokens");
    }
  }
  TrainerOptions trainer_options =
      JobTrainerOptions(inputs.out, fs::path(inputs.out).filename().string(), options, writer);
  trainer_options.gang = gang.get();
  Trainer trainer(*model, adapter.get(), job.train, trainer_options);
  TrainJobResult result;
  LF_ASSIGN_OR_RETURN(result.train, trainer.Run(inputs.data.train, inputs.data.eval));
  result.train.devices = gang != nullptr ? gang->size() : 1;
  if (!writer) return result;
  LF_RETURN_IF_ERROR(
      FinishJob(job, *model, adapter.get(), inputs, base_lineage, trainer_options, &result));
  return result;
}

Result<std::unique_ptr<TrainPack>> OpenTrainPack(const jobs::JobSpec& job,
                                                 const std::string& device_name) {
  LF_ASSIGN_OR_RETURN(torch::Device device, ParseDevice(device_name));
  std::string key = jobs::PackKey(job);
  if (key.empty()) {
    return FailedPrecondition("method " + std::string(jobs::MethodName(job.method)) +
                              " cannot train in a pack (packs take plain LoRA); it trains alone");
  }
  LF_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, LoadModelToTrain(job, device));
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, LoadTokenizer(job.base_model));
  LF_ASSIGN_OR_RETURN(Json base_lineage, BaseModelLineage(job.base_model));
  return std::unique_ptr<TrainPack>(std::make_unique<LoraTrainPack>(
      std::move(key), std::move(model), std::move(tokenizer), std::move(base_lineage)));
}

// The architecture `spec` asks for, sized for `vocab_size` tokens.
Result<ModelConfig> PretrainConfig(const PretrainSpec& spec, int64_t vocab_size) {
  if (spec.hidden % spec.heads != 0) {
    return InvalidArgument("--hidden (" + std::to_string(spec.hidden) +
                           ") must be divisible by --heads (" + std::to_string(spec.heads) + ")");
  }
  if (spec.arch == "gpt2") {
    return Gpt2Config(vocab_size, spec.seq_len, spec.hidden, spec.layers, spec.heads);
  }
  if (spec.arch != "llama") {
    return InvalidArgument("--arch: expected gpt2 or llama, got \"" + spec.arch + "\"");
  }
  ModelConfig c;
  c.arch = Architecture::kLlama;
  c.model_type = "llama";
  c.vocab_size = vocab_size;
  c.hidden = spec.hidden;
  c.layers = spec.layers;
  c.heads = spec.heads;
  c.kv_heads = spec.kv_heads > 0 ? spec.kv_heads : spec.heads;
  if (c.heads % c.kv_heads != 0) {
    return InvalidArgument("--heads (" + std::to_string(c.heads) +
                           ") must be a multiple of --kv-heads (" + std::to_string(c.kv_heads) +
                           ")");
  }
  c.head_dim = spec.hidden / spec.heads;
  if (c.head_dim % 2 != 0) return InvalidArgument("--hidden / --heads must be even (rotary)");
  c.intermediate = spec.intermediate > 0 ? spec.intermediate : (8 * spec.hidden / 3 + 31) / 32 * 32;
  c.max_positions = spec.seq_len;
  c.rope_theta = 500000.0;  // Llama 3's
  c.tie_word_embeddings = true;  // as Llama 3.2 1B and 3B
  return c;
}

Result<TrainJobResult> Pretrain(const PretrainSpec& spec, const TrainJobOptions& options) {
  LF_ASSIGN_OR_RETURN(std::string out, OutputDir(spec.output));
  std::unique_ptr<Tokenizer> tokenizer;
  if (spec.tokenizer.empty()) {
    tokenizer = MakeByteTokenizer();
  } else {
    LF_ASSIGN_OR_RETURN(tokenizer, LoadTokenizer(spec.tokenizer));
  }
  LF_ASSIGN_OR_RETURN(const ModelConfig config, PretrainConfig(spec, tokenizer->vocab_size()));
  LF_ASSIGN_OR_RETURN(std::unique_ptr<CausalLm> model, NewCausalLm(config, spec.train.seed));
  const jobs::DataSpec data_spec{.train = spec.data, .eval = spec.eval, .seq_len = spec.seq_len};
  LF_ASSIGN_OR_RETURN(LoadedData data, LoadData(data_spec, *tokenizer, spec.tokenizer, spec.train));
  const TrainerOptions trainer_options = JobTrainerOptions(out, "pretrain", options);
  Trainer trainer(*model, nullptr, spec.train, trainer_options);
  TrainJobResult result;
  LF_ASSIGN_OR_RETURN(result.train, trainer.Run(data.train, data.eval));
  result.train.data = data.lineage;
  result.train.lorafleet_version = kVersion;
  if (result.train.completed()) {
    LF_RETURN_IF_ERROR(SaveCausalLm(*model, out));
    LF_RETURN_IF_ERROR(spec.tokenizer.empty() ? SaveByteTokenizer(out)
                                              : CopyTokenizerFiles(spec.tokenizer, out));
    RemoveCheckpoints(trainer_options);
  }
  LF_RETURN_IF_ERROR(WriteFileAtomically((fs::path(out) / "pretrain_result.json").string(),
                                         jobs::TrialResultToJson(result.train).dump(2) + "\n"));
  return result;
}

}  // namespace lf::worker
