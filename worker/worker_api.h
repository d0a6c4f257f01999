// What the `lorafleet` client and the worker agent ask of the training engine, in torch-free
// types: train one job, pretrain a small base model, evaluate, generate, merge, tokenize.
// Each call loads what it needs, runs on the calling thread and returns; errors name the file,
// field or tensor that is wrong.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"
#include "jobs/job_spec.h"
#include "worker/train/train_result.h"

namespace lf::worker {

struct TrainJobOptions {
  bool progress = true;
  bool resume = true;  // continue from <output>/checkpoints when a checkpoint is there
  std::function<void(const StepMetrics&)> on_step;
  // After each checkpoint is complete in `dir` (<output>/checkpoints/checkpoint-<step>).
  std::function<void(int64_t step, const std::string& dir)> on_checkpoint;
  std::function<bool()> stop_requested;
  // Early stopping: ends training at the next step as if it were the last (result early_stopped).
  std::function<bool()> finish_requested;
  // A gang (a trial on several ranks, data-parallel): this process trains the job with the other
  // members, the MPI_COMM_WORLD ranks gang_world_ranks (ascending, this one among them), forming
  // the gang with gang_tag. Each rank takes train.batch_size rows of every step (a step sees
  // members x batch_size); the members agree on stops at every step, and gang rank 0 alone writes
  // the outputs (metrics, checkpoints, adapter, result.json) that the others resume from. A member
  // still waiting for the others gang_abandon_after_ms after a stop request gives up (a member is
  // gone) and the run fails with Unavailable. Empty: alone.
  std::vector<int> gang_world_ranks;
  int gang_tag = 0;
  int64_t gang_abandon_after_ms = 10000;
  // Where the model trains: "cpu" or "cuda:N" (the worker's device; train.precision's auto
  // resolves against it).
  std::string device = "cpu";
};

// What RunTrainJob returns: the trainer's result with everything result.json holds filled in
// (jobs::TrialResultToJson(train) is result.json): adapter folder and size, devices, the data and
// base model lineage, forgetting, the resolved job.
struct TrainJobResult {
  TrainResult train;
};

// Trains the job's adapter and writes <output>/adapter (PEFT format), <output>/metrics.jsonl
// and <output>/result.json (summary, resolved job, data hashes). Checkpoints go to
// <output>/checkpoints when train.checkpoint_every is set.
Result<TrainJobResult> RunTrainJob(const jobs::JobSpec& job, const TrainJobOptions& options);

// A pack: plain LoRA trials on one loaded base model trained together, each step one forward and
// one backward pass over all of their micro-batches (worker/train/packed_trainer.h), so every
// frozen base matmul runs once for them all. Trials join between steps and leave as they end;
// each gets what RunTrainJob gives it alone (losses and adapter to float rounding) and writes the
// same outputs. Used by one thread.
class TrainPack {
 public:
  virtual ~TrainPack() = default;
  // Loads the job's data, creates its adapter and trains it from the next Step, resuming from its
  // checkpoint as RunTrainJob does. A job of another pack (jobs::PackKey differs) is refused with
  // FailedPrecondition; bad data fails as RunTrainJob's would. `id` names it in results and errors.
  virtual Status Add(const std::string& id, const jobs::JobSpec& job,
                     const TrainJobOptions& options) = 0;
  struct Finished {
    std::string id;
    Result<TrainJobResult> result;
  };
  // One step of every member; the members that ended in it (steps done, stopped, failed), their
  // outputs written.
  virtual std::vector<Finished> Step() = 0;
  virtual size_t size() const = 0;
};

// A pack for jobs with the key of `job` (jobs/packing.h): loads its base model (on `device`, as
// TrainJobOptions::device) and tokenizer. A job that cannot be packed is refused with
// FailedPrecondition.
Result<std::unique_ptr<TrainPack>> OpenTrainPack(const jobs::JobSpec& job,
                                                 const std::string& device = "cpu");

// Trains a GPT-2-architecture model from scratch with the byte-level tokenizer (full training)
// and saves a Hugging Face folder (config.json, model.safetensors, tokenizer.json).
struct PretrainSpec {
  std::string data;  // JSONL: text, prompt/completion, or chat lines (with the tokenizer's template)
  std::string eval;  // optional JSONL
  std::string output;
  std::string arch = "gpt2";  // "gpt2", or "llama" (RMSNorm, rotary, grouped-query, tied)
  // A Hugging Face folder whose tokenizer the model gets (its files are copied beside the
  // weights); empty: lorafleet's byte-level tokenizer.
  std::string tokenizer;
  int64_t layers = 4;
  int64_t hidden = 256;
  int64_t heads = 4;
  int64_t kv_heads = 0;      // llama: 0 means heads (no grouped-query attention)
  int64_t intermediate = 0;  // llama: 0 means 8/3 * hidden rounded up to a multiple of 32
  int64_t seq_len = 256;
  jobs::TrainSpec train;
};
Result<TrainJobResult> Pretrain(const PretrainSpec& spec, const TrainJobOptions& options);

struct EvalReport {
  double loss = 0;
  double perplexity = 0;
  int64_t tokens = 0;  // predicted tokens
};
// Each line is its own sequence, cut to the model's context: {"text"} tokenized as TokenizeText
// does (nothing added), every token after the first scored; {"messages"} rendered with the base
// model's chat template, its assistant turns scored (as data.train_on: assistant). The mean
// next-token cross-entropy over the scored tokens.
// `logits_path`, when given, receives the first line's logits [tokens, vocab] as safetensors
// (tensor "logits"), for comparisons with other implementations.
Result<EvalReport> EvaluateFile(const std::string& base_dir, const std::string& adapter_dir,
                                const std::string& data_path, const std::string& logits_path = "");

// Greedy continuation of `prompt` with each adapter in turn (or the base alone when none is
// given), on one loaded base, until max_new_tokens or the EOS. The prompt is tokenized as
// Hugging Face's tokenizer(prompt) does (with the BOS the model expects); with `chat`, it is
// one user message rendered by the model's chat template with the generation prompt, and the
// reply is what follows.
struct GenerateOptions {
  int64_t max_new_tokens = 64;
  bool chat = false;
};
Result<std::vector<std::string>> Generate(const std::string& base_dir,
                                          const std::vector<std::string>& adapter_dirs,
                                          const std::string& prompt,
                                          const GenerateOptions& options);

// The base with the adapter folded in, saved as a Hugging Face folder (tokenizer files copied).
Status MergeAdapter(const std::string& base_dir, const std::string& adapter_dir,
                    const std::string& out_dir);

Result<std::vector<int32_t>> TokenizeText(const std::string& tokenizer_dir, const std::string& text);

}  // namespace lf::worker
