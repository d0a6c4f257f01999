// Helpers the per-method adapter tests share: perturbing an adapter away from its identity
// initialisation, a short training run on the bundled tiny GPT-2 and medical notes, the export
// round trip, and a saved adapter to corrupt one way at a time.
#pragma once

#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/safetensors.h"
#include "model/test_models.h"
#include "worker/model/tensor_io.h"
#include "worker/peft/adapter.h"

namespace lf::worker::testing {

// Random changes of size ~`size` to every trainable tensor, so the adapter does something.
inline void PerturbAdapter(Adapter& adapter, uint64_t seed, double size = 0.1) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (torch::Tensor& t : adapter.Parameters()) t.add_(torch::randn(t.sizes()) * size);
}

// The first `n` notes of examples/data/medical/train.jsonl as token ids: the bundled tiny GPT-2's
// tokenizer is byte-level (ids are the UTF-8 bytes), so no tokenizer is needed. [n, seq_len].
inline torch::Tensor MedicalBatch(int64_t n, int64_t seq_len) {
  std::ifstream in(kRepoRoot + "/examples/data/medical/train.jsonl");
  std::vector<int64_t> ids;
  std::string line;
  for (int64_t i = 0; i < n && std::getline(in, line); ++i) {
    std::string text = Json::parse(line).at("text").get<std::string>();
    text.resize(seq_len, ' ');
    for (unsigned char c : text) ids.push_back(c);
  }
  EXPECT_EQ(static_cast<int64_t>(ids.size()), n * seq_len) << "examples/data/medical missing?";
  return torch::tensor(ids, torch::kInt64).view({n, seq_len});
}

// Attaches `job`'s adapter, untrained, to a GPT-2 and a Qwen2-style model and expects the logits
// to move by less than `tolerance` (0: to stay bit-identical) and method() to name job.method.
inline void ExpectUntrainedAdapterChangesNothing(const jobs::JobSpec& job, double tolerance) {
  for (const ModelConfig& config : {TinyGpt2(), TinyLlama(true)}) {
    auto model = NewModel(config);
    torch::Tensor ids = SampleIds(2, 8, config.vocab_size);
    torch::Tensor base = model->Forward(ids);
    auto adapter = CreateAdapter(*model, job, 5);
    ASSERT_TRUE(adapter.ok()) << adapter.status().ToString();
    ScopedHook attached(*model, adapter->get());
    EXPECT_EQ((*adapter)->method(), job.method);
    torch::Tensor out = model->Forward(ids);
    if (tolerance == 0) {
      EXPECT_TRUE(torch::equal(out, base)) << job.method << " on " << config.model_type;
    } else {
      EXPECT_LT((out - base).abs().max().item<double>(), tolerance)
          << job.method << " on " << config.model_type;
    }
  }
}

// Trains `adapter` (attached to `model`) with Adam on one fixed batch; losses before and after.
inline std::pair<double, double> TrainBriefly(CausalLm& model, Adapter& adapter,
                                              const torch::Tensor& ids, int steps, double lr) {
  torch::optim::Adam opt(adapter.Parameters(), torch::optim::AdamOptions(lr));
  adapter.SetTraining(true);
  double first = 0, last = 0;
  for (int step = 0; step <= steps; ++step) {
    opt.zero_grad();
    torch::Tensor loss = CausalLmLoss(model.Forward(ids), ids);
    if (step == 0) first = loss.item<double>();
    if (step == steps) {
      last = loss.item<double>();
      break;
    }
    loss.backward();
    opt.step();
  }
  adapter.SetTraining(false);
  return {first, last};
}

// Trains `adapter` for 30 Adam steps at `lr` on 4 medical notes of 48 bytes and expects the loss
// to fall below `factor` times its start; the losses are recorded as test properties
// (`<label>loss_before`, `<label>loss_after`).
inline void ExpectLossFalls(CausalLm& model, Adapter& adapter, double lr, double factor,
                            const std::string& label = "") {
  torch::Tensor ids = MedicalBatch(4, 48);
  auto [before, after] = TrainBriefly(model, adapter, ids, 30, lr);
  ::testing::Test::RecordProperty(label + "loss_before", std::to_string(before));
  ::testing::Test::RecordProperty(label + "loss_after", std::to_string(after));
  EXPECT_LT(after, before * factor) << label << before << " -> " << after;
}

// Saves `adapter` (perturbed, attached to `model` by the caller's ScopedHook, a model of
// `config`) to a fresh folder `name` and loads it onto a fresh model of `config`: the same method,
// the same logits and the same adapter_config.json. Returns what adapter_config.json says, for
// the method's own checks.
inline Json ExpectExportRoundTrip(const ModelConfig& config, CausalLm& model, Adapter& adapter,
                                  const std::string& name) {
  torch::Tensor ids = SampleIds(2, 6, 50);
  torch::Tensor with_adapter = model.Forward(ids);
  const std::string dir = TempDir(name);
  EXPECT_TRUE(SaveAdapter(adapter, dir, "tiny-base").ok());
  Json cfg = Json::parse(*ReadFileToString(dir + "/adapter_config.json"));
  EXPECT_EQ(cfg["base_model_name_or_path"], "tiny-base");
  auto fresh = NewModel(config);
  auto loaded = LoadAdapter(*fresh, dir);
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
  if (!loaded.ok()) return cfg;
  ScopedHook attached(*fresh, loaded->get());
  EXPECT_EQ((*loaded)->method(), adapter.method());
  EXPECT_TRUE(torch::equal(with_adapter, fresh->Forward(ids))) << config.model_type;
  EXPECT_EQ((*loaded)->PeftConfig("tiny-base"), cfg);
  return cfg;
}

// An adapter of `job` on a model of `config`, saved to a fresh folder `name`, for tests that load
// it with one setting or tensor changed at a time: each LoadErrorWith writes the change, expects
// loading onto a fresh model to fail, puts the saved file back and returns the error message.
class SavedAdapter {
 public:
  SavedAdapter(const ModelConfig& config, const jobs::JobSpec& job, const std::string& name)
      : model_config_(config), dir_(TempDir(name)), weights_(dir_ + "/adapter_model.safetensors") {
    auto model = NewModel(config);
    auto adapter = CreateAdapter(*model, job, 0);
    EXPECT_TRUE(adapter.ok()) << adapter.status().ToString();
    if (!adapter.ok()) return;
    EXPECT_TRUE(SaveAdapter(**adapter, dir_, "b").ok());
    config_ = Json::parse(*ReadFileToString(config_path()));
    auto file = safetensors::File::Open(weights_);
    EXPECT_TRUE(file.ok());
    if (!file.ok()) return;
    auto tensors = LoadAllTensors(*file);
    EXPECT_TRUE(tensors.ok());
    if (tensors.ok()) tensors_ = std::move(tensors).value();
  }

  const Json& config() const { return config_; }  // adapter_config.json as saved
  const std::map<std::string, torch::Tensor>& tensors() const { return tensors_; }  // as saved
  const std::string& weights() const { return weights_; }  // adapter_model.safetensors' path

  std::string LoadErrorWith(const Json& config) const {
    EXPECT_TRUE(WriteFileAtomically(config_path(), config.dump()).ok());
    std::string message = LoadError();
    EXPECT_TRUE(WriteFileAtomically(config_path(), config_.dump()).ok());
    return message;
  }
  std::string LoadErrorWith(const std::map<std::string, torch::Tensor>& tensors) const {
    EXPECT_TRUE(SaveTensors(tensors, weights_).ok());
    std::string message = LoadError();
    EXPECT_TRUE(SaveTensors(tensors_, weights_).ok());
    return message;
  }

 private:
  std::string config_path() const { return dir_ + "/adapter_config.json"; }
  std::string LoadError() const {
    auto loaded = LoadAdapter(*NewModel(model_config_), dir_);
    EXPECT_FALSE(loaded.ok());
    return loaded.ok() ? std::string() : loaded.status().message();
  }

  ModelConfig model_config_;
  std::string dir_;
  std::string weights_;
  Json config_;
  std::map<std::string, torch::Tensor> tensors_;
};

}  // namespace lf::worker::testing
