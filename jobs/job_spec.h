// A training job as users write it (the YAML file `lorafleet train` takes, and the base job of a
// sweep): which base model, which data, which method with its settings, how to train, where the
// output goes. Parsing is pure and strict: an unknown key or a bad value is an error naming its
// path ("job.lora.r: expected a positive integer, got 0"). Values, thread-safe.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::jobs {

// Which tokens of a chat example ({"messages": [...]}) carry loss: every assistant turn (its
// content and the end-of-turn marker the template writes), the last assistant turn only, or
// every token of the rendered conversation.
enum class TrainOn { kAssistant, kLastAssistant, kAll };
std::string_view TrainOnName(TrainOn t);

// How examples become training rows. kStream: concatenated and cut into rows, each token seeing
// the examples before it in the row (Hugging Face's run_clm; plain text). kDocuments: whole
// examples packed into rows, each attending only to itself, positions restarting per example
// (torchtune's packed datasets). kPad: one example per row, right-padded. kAuto: kDocuments when
// the training file has chat examples, kStream otherwise.
enum class DataPacking { kAuto, kStream, kDocuments, kPad };
std::string_view DataPackingName(DataPacking p);

struct DataSpec {
  std::string train;  // JSONL
  std::string eval;   // JSONL; empty: no evaluation
  // JSONL of general text, scored before and after training: what the adapter costs in general
  // ability (forgetting). Empty: not measured.
  std::string general_eval;
  int64_t seq_len = 128;
  TrainOn train_on = TrainOn::kAssistant;
  DataPacking packing = DataPacking::kAuto;
  // A Jinja chat template file for chat examples; empty: the base model's own (the chat_template
  // of its tokenizer_config.json, or chat_template.jinja).
  std::string chat_template;
};

struct LoraSpec {
  int64_t r = 8;
  double alpha = 16;
  double dropout = 0.0;
  // Module names matched as PEFT matches a list: the full name or its suffix after a dot.
  // Empty: the architecture's default (GPT-2: c_attn; Llama family: q_proj, v_proj), as PEFT's.
  std::vector<std::string> target_modules;
  bool rslora = false;                       // scale alpha / sqrt(r) instead of alpha / r
  std::vector<int64_t> layers_to_transform;  // empty: every layer
};

// IA³ (PEFT's IA3Config): a learned vector per targeted module. Empty lists: the architecture's
// defaults, as PEFT's (GPT-2: c_attn, mlp.c_proj / mlp.c_proj; Llama and Mistral: k_proj, v_proj,
// down_proj / down_proj; Qwen2: q_proj, v_proj, down_proj / down_proj). Feed-forward modules
// scale their input, the others their output; given both, feedforward_modules must be a subset.
struct Ia3Spec {
  std::vector<std::string> target_modules;
  std::vector<std::string> feedforward_modules;
};

// QLoRA (Dettmers et al. 2023): LoRA's settings on a base whose transformer-block linear weights
// are kept in NF4 (blocks of block_size values, one absmax each; with double_quant the absmax
// values are themselves quantised to 8 bits in groups of 256), dequantised on the fly.
struct QloraSpec : LoraSpec {
  bool double_quant = true;
  int64_t block_size = 64;
};

// Prompt tuning (Lester et al. 2021; PEFT's PromptTuningConfig): num_virtual_tokens learned
// embeddings placed before every sequence's token embeddings. init: "random" (N(0, 1), PEFT's
// RANDOM) or "sample_vocab" (rows of the base model's token embeddings, PEFT's SAMPLE_VOCAB).
struct PromptTuningSpec {
  int64_t num_virtual_tokens = 20;
  std::string init = "random";
};

// P-tuning (Liu et al. 2021; PEFT's PromptEncoderConfig, MLP encoder): the virtual token
// embeddings pass through Linear-ReLU-Linear-ReLU-Linear (encoder_hidden_size wide; 0: the
// model's hidden size, PEFT's default) while training; the export holds the encoder's output.
struct PTuningSpec {
  int64_t num_virtual_tokens = 20;
  int64_t encoder_hidden_size = 0;
};

// Prefix tuning (Li & Liang 2021; PEFT's PrefixTuningConfig): num_virtual_tokens learned keys
// and values that every position of every decoder layer attends to. With prefix_projection they
// are reparameterised by Embedding -> Linear -> tanh -> Linear (encoder_hidden_size wide; 0: the
// model's hidden size) while training; the export holds the MLP's output.
struct PrefixTuningSpec {
  int64_t num_virtual_tokens = 20;
  bool prefix_projection = false;
  int64_t encoder_hidden_size = 0;
};

// Bottleneck adapters (Houlsby et al. 2019): after each sublayer's output projection and before
// its residual sum, h + scaling * up(act(down(dropout(h)))), `size` wide. `after` picks the
// sublayers: attention, feed_forward or both (Houlsby's placement, the default).
struct BottleneckSpec {
  int64_t size = 64;
  std::string activation = "relu";  // relu, gelu, tanh, silu
  std::vector<std::string> after = {"attention", "feed_forward"};
  double dropout = 0.0;
  double scaling = 1.0;
};

// Compacter (Mahabadi et al. 2021): bottleneck adapters whose down and up projections are sums
// of phm_dim Kronecker products A_i ⊗ B_i, the A_i (phm_dim x phm_dim) shared by every layer's
// adapters and each B_i a product of two factors of rank phm_rank (Compacter++'s low-rank PHM).
// Both the model's hidden size and `size` must be divisible by phm_dim.
struct CompacterSpec : BottleneckSpec {
  int64_t phm_dim = 4;
  int64_t phm_rank = 1;
};

// The methods `method:` accepts; each has a block of its own settings named after it. bitfit
// (only the base model's biases train; Ben Zaken et al. 2022) and full (every weight trains, the
// baseline the others are measured against) have no settings: their blocks, `bitfit: {}` and
// `full: {}`, may be left out and must stay empty. Code that depends on the method switches over
// it, so adding one is a compile error everywhere it needs handling.
enum class Method {
  kLora,
  kDora,
  kIa3,
  kQlora,
  kPromptTuning,
  kPTuning,
  kPrefixTuning,
  kBottleneck,
  kCompacter,
  kBitfit,
  kFull,
};
// The name jobs, results and the API use: "lora", "prompt_tuning", ...
std::string_view MethodName(Method m);
// kInvalidArgument naming the known methods for an unknown name.
Result<Method> ParseMethod(std::string_view name);
const std::vector<Method>& AllMethods();
// adapter_config.json's peft_type for the method's adapter: "LORA" for lora, dora (use_dora) and
// qlora, "IA3", "PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING", "BOTTLENECK", "COMPACTER", "BITFIT";
// empty for full (a whole model, no adapter).
std::string_view PeftType(Method m);
// Writes MethodName (for logs and test failure messages).
std::ostream& operator<<(std::ostream& os, Method m);

enum class Schedule { kConstant, kLinear, kCosine };
std::string_view ScheduleName(Schedule s);

// The number format training computes in. kBf16 and kFp16 keep the frozen base in that format
// (half of fp32's memory) and compute matmuls in it; trainable tensors and AdamW's state stay fp32
// (master weights), norms and the loss compute in fp32. kFp16 scales the loss dynamically (halved
// and the step skipped on an overflow). kAuto is resolved by the trainer once the device is known
// (ResolvePrecision); results record the resolved one.
enum class Precision { kAuto, kBf16, kFp16, kFp32 };
std::string_view PrecisionName(Precision p);  // "auto", "bf16", "fp16", "fp32"
Result<Precision> ParsePrecision(std::string_view name);
// kAuto -> kBf16 on CUDA, kFp32 on the CPU (bf16 works there, but slowly); others unchanged.
Precision ResolvePrecision(Precision p, bool cuda);

struct TrainSpec {
  int64_t steps = 100;       // optimizer steps
  int64_t batch_size = 8;    // sequences per micro-batch
  int64_t grad_accum = 1;    // micro-batches per optimizer step
  double lr = 3e-4;
  Schedule schedule = Schedule::kConstant;
  int64_t warmup = 0;        // steps of linear warmup from 0
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;  // 0: no clipping
  uint64_t seed = 0;
  int64_t eval_every = 0;      // steps; 0: only at the end
  int64_t eval_batches = 0;    // 0: the whole eval set
  int64_t checkpoint_every = 0;  // steps; 0: no intermediate checkpoints
  int64_t log_every = 10;
  Precision precision = Precision::kAuto;
  // Recompute each decoder block in the backward pass instead of keeping its activations: less
  // memory for about one more forward pass of compute.
  bool gradient_checkpointing = false;
};
// The `train:` block as ParseJobSpec reads it and JobSpecToJson writes it (jobs/train_spec.cpp).
Status ParseTrainSpec(const JsonField& f, TrainSpec* t);
Json TrainSpecToJson(const TrainSpec& t);

struct JobSpec {
  std::string base_model;  // a Hugging Face model folder
  DataSpec data;
  Method method = Method::kLora;  // only its block is read
  LoraSpec lora;  // method lora
  LoraSpec dora;  // method dora: LoRA's settings, weight-decomposed (PEFT's use_dora)
  Ia3Spec ia3;    // method ia3
  QloraSpec qlora;  // method qlora
  PromptTuningSpec prompt_tuning;
  PTuningSpec p_tuning;
  PrefixTuningSpec prefix_tuning;
  BottleneckSpec bottleneck;
  CompacterSpec compacter;
  TrainSpec train;
  std::string output;  // folder for the adapter (full: the model), checkpoints and metrics
};

// The LoRA settings of a LoRA-family job (lora, dora, qlora: the ones with a rank and alpha);
// null for every other method.
const LoraSpec* LoraSettings(const JobSpec& job);

// `root` names the document in error paths ("job" -> "job.train.lr: ...").
Result<JobSpec> ParseJobSpec(const Json& doc, std::string_view root = "job");
// The fully resolved job (every default filled in), as stored beside results for lineage.
Json JobSpecToJson(const JobSpec& spec);
// Makes relative base_model, data.train, data.eval and data.general_eval absolute by joining them to `base_dir`
// (an absolute directory they are relative to, e.g. the submitting client's working directory),
// so the job means the same wherever it runs. Lexical only (the filesystem is not touched);
// absolute and empty paths are left alone.
void ResolveJobPaths(JobSpec* job, std::string_view base_dir);

}  // namespace lf::jobs
