#include "jobs/job_spec.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "common/yaml.h"
#include "jobs/packing.h"

namespace lf::jobs {
namespace {

Result<JobSpec> Parse(const std::string& yaml) {
  Result<Json> doc = ParseYaml(yaml, "job.yaml");
  if (!doc.ok()) return doc.status();
  return ParseJobSpec(*doc);
}

constexpr const char* kMinimal = R"(
base_model: examples/models/tiny-gpt2
data: {train: train.jsonl}
)";

TEST(JobSpecTest, MinimalJobGetsDefaults) {
  Result<JobSpec> spec = Parse(kMinimal);
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->base_model, "examples/models/tiny-gpt2");
  EXPECT_EQ(spec->data.train, "train.jsonl");
  EXPECT_EQ(spec->data.eval, "");
  EXPECT_EQ(spec->data.seq_len, 128);
  EXPECT_EQ(spec->data.train_on, TrainOn::kAssistant);
  EXPECT_EQ(spec->data.packing, DataPacking::kAuto);
  EXPECT_EQ(spec->data.chat_template, "");
  EXPECT_EQ(spec->method, Method::kLora);
  EXPECT_EQ(spec->lora.r, 8);
  EXPECT_TRUE(spec->lora.target_modules.empty());
  EXPECT_EQ(spec->train.schedule, Schedule::kConstant);
  EXPECT_DOUBLE_EQ(spec->train.max_grad_norm, 1.0);
  EXPECT_EQ(spec->train.precision, Precision::kAuto);
  EXPECT_FALSE(spec->train.gradient_checkpointing);
}

TEST(JobSpecTest, PrecisionAndGradientCheckpointingParseAndRoundTrip) {
  for (auto [name, precision] : {std::pair{"auto", Precision::kAuto}, {"bf16", Precision::kBf16},
                                 {"fp16", Precision::kFp16}, {"fp32", Precision::kFp32}}) {
    Result<JobSpec> spec = Parse(std::string(kMinimal) + "train: {precision: " + name +
                                 ", gradient_checkpointing: true}\n");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_EQ(spec->train.precision, precision) << name;
    EXPECT_TRUE(spec->train.gradient_checkpointing);
    EXPECT_EQ(PrecisionName(precision), name);
    const Json j = JobSpecToJson(*spec);
    EXPECT_EQ(j["train"]["precision"], name);
    EXPECT_EQ(j["train"]["gradient_checkpointing"], true);
    Result<JobSpec> again = ParseJobSpec(j);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->train.precision, precision);
    EXPECT_TRUE(again->train.gradient_checkpointing);
  }
  Result<JobSpec> bad = Parse(std::string(kMinimal) + "train: {precision: half}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().field(), "job.train.precision");
  EXPECT_NE(bad.status().message().find("auto, bf16, fp16, fp32"), std::string::npos)
      << bad.status().ToString();
  Result<JobSpec> not_bool = Parse(std::string(kMinimal) + "train: {gradient_checkpointing: 2}\n");
  ASSERT_FALSE(not_bool.ok());
  EXPECT_EQ(not_bool.status().field(), "job.train.gradient_checkpointing");
}

TEST(JobSpecTest, AutoPrecisionIsBf16OnCudaAndFp32OnTheCpu) {
  EXPECT_EQ(ResolvePrecision(Precision::kAuto, /*cuda=*/true), Precision::kBf16);
  EXPECT_EQ(ResolvePrecision(Precision::kAuto, /*cuda=*/false), Precision::kFp32);
  for (Precision p : {Precision::kBf16, Precision::kFp16, Precision::kFp32}) {
    EXPECT_EQ(ResolvePrecision(p, true), p);
    EXPECT_EQ(ResolvePrecision(p, false), p);
  }
  EXPECT_EQ(*ParsePrecision("bf16"), Precision::kBf16);
  EXPECT_FALSE(ParsePrecision("fp8").ok());
}

TEST(PackKeyTest, PlainLoraOnOneBaseAndLengthShareAKeyWhateverTheirSettings) {
  JobSpec a;
  a.base_model = "/models/tiny";
  a.data.seq_len = 64;
  JobSpec b = a;  // another rank, alpha, targets, learning rate, seed and data
  b.lora = {.r = 32, .alpha = 8, .dropout = 0.1, .target_modules = {"c_fc"}};
  b.train.lr = 1e-2;
  b.train.seed = 9;
  b.data.train = "other.jsonl";
  EXPECT_FALSE(PackKey(a).empty());
  EXPECT_EQ(PackKey(a), PackKey(b));
  JobSpec longer = a;
  longer.data.seq_len = 128;
  JobSpec other_base = a;
  other_base.base_model = "/models/other";
  JobSpec bf16 = a;
  bf16.train.precision = Precision::kBf16;
  JobSpec checkpointed = a;
  checkpointed.train.gradient_checkpointing = true;
  EXPECT_NE(PackKey(longer), PackKey(a));
  EXPECT_NE(PackKey(other_base), PackKey(a));
  EXPECT_NE(PackKey(bf16), PackKey(a));  // one forward pass computes in one precision
  EXPECT_NE(PackKey(checkpointed), PackKey(a));
  for (Method method : {Method::kDora, Method::kQlora, Method::kIa3, Method::kPromptTuning,
                        Method::kBottleneck, Method::kFull}) {
    JobSpec alone = a;
    alone.method = method;
    EXPECT_EQ(PackKey(alone), "") << MethodName(method);
  }
}

TEST(JobSpecTest, FullJobParsesAndRoundTrips) {
  Result<JobSpec> spec = Parse(R"(
base_model: m
data: {train: t.jsonl, eval: e.jsonl, seq_len: 64, train_on: last_assistant, packing: pad,
       chat_template: chat.jinja}
method: lora
lora: {r: 16, alpha: 32, dropout: 0.1, target_modules: [c_attn, c_proj], rslora: true,
       layers_to_transform: [0, 2]}
train: {steps: 300, batch_size: 4, grad_accum: 2, lr: 1e-3, schedule: cosine, warmup: 30,
        weight_decay: 0.01, max_grad_norm: 0, seed: 7, eval_every: 50, eval_batches: 4,
        checkpoint_every: 100, log_every: 5}
output: runs/x
)");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->lora.target_modules, (std::vector<std::string>{"c_attn", "c_proj"}));
  EXPECT_EQ(spec->lora.layers_to_transform, (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(spec->lora.rslora);
  EXPECT_DOUBLE_EQ(spec->train.lr, 1e-3);
  EXPECT_EQ(spec->train.schedule, Schedule::kCosine);
  EXPECT_EQ(spec->train.seed, 7u);
  EXPECT_EQ(spec->data.train_on, TrainOn::kLastAssistant);
  EXPECT_EQ(spec->data.packing, DataPacking::kPad);
  EXPECT_EQ(spec->data.chat_template, "chat.jinja");
  Json resolved = JobSpecToJson(*spec);
  Result<JobSpec> again = ParseJobSpec(resolved);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(JobSpecToJson(*again), resolved);
  // Defaults round-trip too (empty lists are written as null).
  Json minimal = JobSpecToJson(*Parse(kMinimal));
  ASSERT_TRUE(ParseJobSpec(minimal).ok()) << ParseJobSpec(minimal).status().ToString();
}

TEST(JobSpecTest, DoraAndIa3HaveTheirOwnBlocks) {
  Result<JobSpec> dora = Parse(R"(
base_model: m
data: {train: t.jsonl}
method: dora
dora: {r: 4, alpha: 8, target_modules: [c_attn], layers_to_transform: [1]}
)");
  ASSERT_TRUE(dora.ok()) << dora.status().ToString();
  EXPECT_EQ(dora->method, Method::kDora);
  EXPECT_EQ(dora->dora.r, 4);
  EXPECT_EQ(dora->dora.target_modules, (std::vector<std::string>{"c_attn"}));
  EXPECT_EQ(dora->lora.r, 8);  // untouched
  Json j = JobSpecToJson(*dora);
  EXPECT_TRUE(j.contains("dora"));
  EXPECT_FALSE(j.contains("lora"));
  EXPECT_FALSE(j.contains("ia3"));
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);

  Result<JobSpec> ia3 = Parse(R"(
base_model: m
data: {train: t.jsonl}
method: ia3
ia3: {target_modules: [c_attn, mlp.c_proj], feedforward_modules: [mlp.c_proj]}
)");
  ASSERT_TRUE(ia3.ok()) << ia3.status().ToString();
  EXPECT_EQ(ia3->ia3.target_modules, (std::vector<std::string>{"c_attn", "mlp.c_proj"}));
  EXPECT_EQ(ia3->ia3.feedforward_modules, (std::vector<std::string>{"mlp.c_proj"}));
  j = JobSpecToJson(*ia3);
  EXPECT_TRUE(j.contains("ia3"));
  EXPECT_FALSE(j.contains("lora"));
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);
  // Defaults (the architecture's modules) are written as null and read back as defaults.
  Result<JobSpec> plain = Parse("base_model: m\ndata: {train: t}\nmethod: ia3\n");
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->ia3.target_modules.empty());
  j = JobSpecToJson(*plain);
  EXPECT_TRUE(j["ia3"]["target_modules"].is_null());
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);
  // The lora job's resolved form has no other method's block.
  EXPECT_FALSE(JobSpecToJson(*Parse(kMinimal)).contains("dora"));
}

TEST(JobSpecTest, PromptPrefixAndBottleneckMethodsHaveTheirOwnBlocks) {
  Result<JobSpec> prompt = Parse(R"(
base_model: m
data: {train: t.jsonl}
method: prompt_tuning
prompt_tuning: {num_virtual_tokens: 8, init: sample_vocab}
)");
  ASSERT_TRUE(prompt.ok()) << prompt.status().ToString();
  EXPECT_EQ(prompt->prompt_tuning.num_virtual_tokens, 8);
  EXPECT_EQ(prompt->prompt_tuning.init, "sample_vocab");
  Json j = JobSpecToJson(*prompt);
  EXPECT_EQ(j["prompt_tuning"], Json({{"num_virtual_tokens", 8}, {"init", "sample_vocab"}}));
  EXPECT_FALSE(j.contains("lora"));
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);

  Result<JobSpec> ptuning = Parse(
      "base_model: m\ndata: {train: t}\nmethod: p_tuning\np_tuning: {encoder_hidden_size: 32}\n");
  ASSERT_TRUE(ptuning.ok()) << ptuning.status().ToString();
  EXPECT_EQ(ptuning->p_tuning.num_virtual_tokens, 20);
  EXPECT_EQ(ptuning->p_tuning.encoder_hidden_size, 32);
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(JobSpecToJson(*ptuning))), JobSpecToJson(*ptuning));

  Result<JobSpec> prefix = Parse(
      "base_model: m\ndata: {train: t}\nmethod: prefix_tuning\n"
      "prefix_tuning: {num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 16}\n");
  ASSERT_TRUE(prefix.ok()) << prefix.status().ToString();
  EXPECT_TRUE(prefix->prefix_tuning.prefix_projection);
  EXPECT_EQ(prefix->prefix_tuning.encoder_hidden_size, 16);
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(JobSpecToJson(*prefix))), JobSpecToJson(*prefix));

  Result<JobSpec> bottleneck = Parse(
      "base_model: m\ndata: {train: t}\nmethod: bottleneck\n"
      "bottleneck: {size: 16, activation: gelu, after: [feed_forward], scaling: 0.5}\n");
  ASSERT_TRUE(bottleneck.ok()) << bottleneck.status().ToString();
  EXPECT_EQ(bottleneck->bottleneck.size, 16);
  EXPECT_EQ(bottleneck->bottleneck.activation, "gelu");
  EXPECT_EQ(bottleneck->bottleneck.after, (std::vector<std::string>{"feed_forward"}));
  EXPECT_EQ(bottleneck->bottleneck.scaling, 0.5);
  j = JobSpecToJson(*bottleneck);
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);

  Result<JobSpec> compacter = Parse(
      "base_model: m\ndata: {train: t}\nmethod: compacter\n"
      "compacter: {size: 24, phm_dim: 8, phm_rank: 2}\n");
  ASSERT_TRUE(compacter.ok()) << compacter.status().ToString();
  EXPECT_EQ(compacter->compacter.size, 24);
  EXPECT_EQ(compacter->compacter.phm_dim, 8);
  EXPECT_EQ(compacter->compacter.phm_rank, 2);
  EXPECT_EQ(compacter->compacter.after, (std::vector<std::string>{"attention", "feed_forward"}));
  j = JobSpecToJson(*compacter);
  EXPECT_EQ(j["compacter"]["phm_dim"], 8);
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);
}

// The job files shipped in examples/jobs are what README and docs tell people to run.
TEST(JobSpecTest, EveryExampleJobParses) {
  const std::filesystem::path dir = std::filesystem::path(LF_TEST_SRCDIR) / "../../../examples/jobs";
  int parsed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    Result<Json> doc = ReadYamlFile(entry.path().string());
    ASSERT_TRUE(doc.ok()) << doc.status().ToString();
    Result<JobSpec> job = ParseJobSpec(*doc);
    EXPECT_TRUE(job.ok()) << entry.path() << ": " << job.status().ToString();
    ++parsed;
  }
  EXPECT_GE(parsed, 7);
}

TEST(JobSpecTest, ErrorsNameTheField) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"data: {train: t}\n", "job.base_model: required field is missing"},
      {"base_model: m\n", "job.data: required field is missing"},
      {"base_model: m\ndata: {train: t}\nlora: {r: 0}\n",
       "job.lora.r: expected an integer from 1 to 65536, got 0"},
      {"base_model: m\ndata: {train: t}\ntrain: {lr: -1e-4}\n",
       "job.train.lr: expected a positive number, got -0.0001"},
      {"base_model: m\ndata: {train: t}\nlora: {rank: 4}\n",
       "job.lora.rank: unknown key; expected one of: r, alpha, dropout, target_modules, rslora, "
       "layers_to_transform"},
      {"base_model: m\ndata: {train: t}\ntrain: {schedule: step}\n",
       "job.train.schedule: expected one of constant, linear, cosine, got \"step\""},
      {"base_model: m\ndata: {train: t, train_on: assistants}\n",
       "job.data.train_on: expected one of assistant, last_assistant, all, got \"assistants\""},
      {"base_model: m\ndata: {train: t, packing: bins}\n",
       "job.data.packing: expected one of auto, stream, documents, pad, got \"bins\""},
      {"base_model: m\ndata: {train: t}\nmethod: prefix\n", "job.method: unknown method \"prefix\""},
      {"base_model: m\ndata: {train: t}\nmethod: prompt_tuning\n"
       "prompt_tuning: {num_virtual_tokens: 0}\n",
       "job.prompt_tuning.num_virtual_tokens: expected an integer from 1 to 4096, got 0"},
      {"base_model: m\ndata: {train: t}\nmethod: prompt_tuning\nprompt_tuning: {init: text}\n",
       "job.prompt_tuning.init: expected one of random, sample_vocab, got \"text\""},
      {"base_model: m\ndata: {train: t}\nmethod: p_tuning\np_tuning: {prefix_projection: true}\n",
       "job.p_tuning.prefix_projection: unknown key"},
      {"base_model: m\ndata: {train: t}\nmethod: prefix_tuning\n"
       "prefix_tuning: {encoder_hidden_size: 64}\n",
       "job.prefix_tuning.encoder_hidden_size: is the width of the reparameterisation MLP; set "
       "prefix_projection: true or remove it"},
      {"base_model: m\ndata: {train: t}\nmethod: bottleneck\nbottleneck: {activation: swish}\n",
       "job.bottleneck.activation: expected one of relu, gelu, tanh, silu, got \"swish\""},
      {"base_model: m\ndata: {train: t}\nmethod: bottleneck\nbottleneck: {after: [attention, mlp]}\n",
       "job.bottleneck.after: expected one of attention, feed_forward, got \"mlp\""},
      {"base_model: m\ndata: {train: t}\nmethod: bottleneck\n"
       "bottleneck: {after: [attention, attention]}\n",
       "job.bottleneck.after: names \"attention\" twice"},
      {"base_model: m\ndata: {train: t}\nmethod: bottleneck\nbottleneck: {phm_dim: 4}\n",
       "job.bottleneck.phm_dim: unknown key"},
      {"base_model: m\ndata: {train: t}\nmethod: compacter\ncompacter: {size: 30, phm_dim: 4}\n",
       "job.compacter: size (30) must be divisible by phm_dim (4)"},
      {"base_model: m\ndata: {train: t}\nmethod: compacter\nbottleneck: {size: 8}\n",
       "job.bottleneck: given but method is compacter; remove it or set method: bottleneck"},
      {"base_model: m\ndata: {train: t}\nlora: {target_modules: [q_proj, 3]}\n",
       "job.lora.target_modules[1]: expected a string, got 3"},
      {"base_model: m\ndata: {train: t}\ntrain: {steps: 10, warmup: 10}\n",
       "job.train.warmup: warmup (10) must be shorter than steps (10)"},
      {"base_model: m\ndata: {train: t, seq_len: 1}\n",
       "job.data.seq_len: expected an integer from 2 to 1048576, got 1"},
      {"- a list\n", "job: expected a job (a mapping), got a list"},
      {"base_model: m\ndata: {train: t}\nlora: {dropout: 1.5}\n",
       "job.lora.dropout: expected a number >= 0 and <= 0.999, got 1.5"},
      {"base_model: m\ndata: {train: t}\nia3: {target_modules: [c_attn]}\n",
       "job.ia3: given but method is lora; remove it or set method: ia3"},
      {"base_model: m\ndata: {train: t}\nmethod: dora\nlora: {r: 4}\n",
       "job.lora: given but method is dora; remove it or set method: lora"},
      {"base_model: m\ndata: {train: t}\nmethod: dora\ndora: {rank: 4}\n",
       "job.dora.rank: unknown key; expected one of: r, alpha, dropout, target_modules, rslora, "
       "layers_to_transform"},
      {"base_model: m\ndata: {train: t}\nmethod: ia3\nia3: {r: 4}\n",
       "job.ia3.r: unknown key; expected one of: target_modules, feedforward_modules"},
      {"base_model: m\ndata: {train: t}\nmethod: ia3\nia3: {target_module: [c_attn]}\n",
       "(did you mean 'target_modules'?)"},
      {"base_model: m\ndata: {train: t}\nmethod: ia3\n"
       "ia3: {target_modules: [c_attn], feedforward_modules: [c_fc]}\n",
       "job.ia3.feedforward_modules: \"c_fc\" is not in target_modules"},
      {"base_model: m\ndata: {train: t}\nmethod: ia3\nia3: {feedforward_modules: []}\n",
       "job.ia3.feedforward_modules: must name at least one module, or be left out"},
  };
  for (const Case& c : cases) {
    Result<JobSpec> spec = Parse(c.yaml);
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << c.message;
  }
}

TEST(JobSpecTest, QloraHasLorasKeysPlusQuantisation) {
  Result<JobSpec> q = Parse(R"(
base_model: m
data: {train: t.jsonl}
method: qlora
qlora: {r: 4, alpha: 8, dropout: 0.05, target_modules: [c_attn], rslora: true,
        layers_to_transform: [1], double_quant: false, block_size: 128}
)");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->method, Method::kQlora);
  EXPECT_EQ(q->qlora.r, 4);
  EXPECT_EQ(q->qlora.alpha, 8);
  EXPECT_EQ(q->qlora.dropout, 0.05);
  EXPECT_TRUE(q->qlora.rslora);
  EXPECT_EQ(q->qlora.target_modules, (std::vector<std::string>{"c_attn"}));
  EXPECT_EQ(q->qlora.layers_to_transform, (std::vector<int64_t>{1}));
  EXPECT_FALSE(q->qlora.double_quant);
  EXPECT_EQ(q->qlora.block_size, 128);
  EXPECT_EQ(q->lora.r, 8);  // untouched
  Json j = JobSpecToJson(*q);
  EXPECT_TRUE(j.contains("qlora"));
  EXPECT_FALSE(j.contains("lora"));
  EXPECT_EQ(j["qlora"]["double_quant"], false);
  EXPECT_EQ(j["qlora"]["block_size"], 128);
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);

  // QLoRA's defaults: double quantisation, blocks of 64, LoRA's r and alpha.
  Result<JobSpec> plain = Parse("base_model: m\ndata: {train: t}\nmethod: qlora\n");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->qlora.double_quant);
  EXPECT_EQ(plain->qlora.block_size, 64);
  EXPECT_EQ(plain->qlora.r, 8);
  EXPECT_TRUE(plain->qlora.target_modules.empty());
  EXPECT_EQ(JobSpecToJson(*ParseJobSpec(JobSpecToJson(*plain))), JobSpecToJson(*plain));
  EXPECT_FALSE(JobSpecToJson(*Parse(kMinimal)).contains("qlora"));
}

TEST(JobSpecTest, QloraErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"method: qlora\nqlora: {rank: 4}\n",
       "job.qlora.rank: unknown key; expected one of: r, alpha, dropout, target_modules, rslora, "
       "layers_to_transform, double_quant, block_size"},
      {"method: qlora\nqlora: {double_quant: 1}\n", "job.qlora.double_quant: expected"},
      {"method: qlora\nqlora: {block_size: 63}\n", "job.qlora.block_size: must be even"},
      {"method: qlora\nqlora: {block_size: 0}\n", "job.qlora.block_size: expected an integer"},
      {"method: qlora\nqlora: {r: 0}\n", "job.qlora.r: expected an integer from 1 to 65536"},
      {"method: qlora\nlora: {r: 4}\n",
       "job.lora: given but method is qlora; remove it or set method: lora"},
      {"qlora: {r: 4}\n", "job.qlora: given but method is lora; remove it or set method: qlora"},
      {"lora: {double_quant: true}\n", "job.lora.double_quant: unknown key"},
      {"method: q-lora\n", "unknown method \"q-lora\"; this version trains: lora, dora, ia3"},
  };
  for (const auto& [yaml, message] : cases) {
    Result<JobSpec> spec = Parse("base_model: m\ndata: {train: t}\n" + yaml);
    ASSERT_FALSE(spec.ok()) << yaml;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(message), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << message;
  }
  Result<JobSpec> unknown = Parse("base_model: m\ndata: {train: t}\nmethod: q-lora\n");
  EXPECT_NE(unknown.status().message().find("qlora"), std::string::npos)
      << unknown.status().message();
}

TEST(JobSpecTest, BitfitAndFullHaveNoSettings) {
  for (const std::string method : {"bitfit", "full"}) {
    for (const std::string& block : {std::string(""), method + ":\n", method + ": {}\n"}) {
      Result<JobSpec> spec =
          Parse("base_model: m\ndata: {train: t}\nmethod: " + method + "\n" + block);
      ASSERT_TRUE(spec.ok()) << method << " " << block << ": " << spec.status().ToString();
      EXPECT_EQ(MethodName(spec->method), method);
      Json j = JobSpecToJson(*spec);
      EXPECT_EQ(j[method], Json::object());
      EXPECT_FALSE(j.contains("lora"));
      EXPECT_EQ(JobSpecToJson(*ParseJobSpec(j)), j);
    }
  }
  struct Case {
    std::string yaml;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"base_model: m\ndata: {train: t}\nmethod: bitfit\nbitfit: {layers_to_transform: [0]}\n",
       "job.bitfit: unknown key \"layers_to_transform\": bitfit has no settings"},
      {"base_model: m\ndata: {train: t}\nmethod: full\nfull: {lr: 1}\n",
       "job.full: unknown key \"lr\": full has no settings"},
      {"base_model: m\ndata: {train: t}\nmethod: full\nfull: [a]\n",
       "job.full: expected an empty mapping ({}), got a list"},
      {"base_model: m\ndata: {train: t}\nmethod: full\nbitfit: {}\n",
       "job.bitfit: given but method is full; remove it or set method: bitfit"},
      {"base_model: m\ndata: {train: t}\nfull: {}\n",
       "job.full: given but method is lora; remove it or set method: full"},
      {"base_model: m\ndata: {train: t}\nmethod: bitfit\nlora: {r: 4}\n",
       "job.lora: given but method is bitfit"},
  };
  for (const Case& c : cases) {
    Result<JobSpec> spec = Parse(c.yaml);
    ASSERT_FALSE(spec.ok()) << c.yaml;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(c.message), std::string::npos)
        << "got: " << spec.status().message() << "\nwant: " << c.message;
  }
}

TEST(JobSpecTest, EveryMethodNameRoundTripsAndHasItsPeftType) {
  for (Method m : AllMethods()) {
    EXPECT_EQ(*ParseMethod(MethodName(m)), m);
    const std::string yaml = "base_model: m\ndata: {train: t}\nmethod: " +
                             std::string(MethodName(m)) + "\n";
    Result<JobSpec> spec = ParseJobSpec(*ParseYaml(yaml, "job"));
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    // The resolved form names the method and carries its block only.
    EXPECT_EQ(ParseJobSpec(JobSpecToJson(*spec))->method, m);
    EXPECT_EQ(PeftType(m).empty(), m == Method::kFull) << MethodName(m);
    EXPECT_EQ(LoraSettings(*spec) != nullptr,
              m == Method::kLora || m == Method::kDora || m == Method::kQlora);
  }
  EXPECT_EQ(AllMethods().size(), 11u);
  EXPECT_EQ(PeftType(Method::kDora), "LORA");
  EXPECT_EQ(PeftType(Method::kPTuning), "P_TUNING");
  EXPECT_FALSE(ParseMethod("LoRA").ok());
}

}  // namespace
}  // namespace lf::jobs
