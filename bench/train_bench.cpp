// train_bench: what parameter-efficient training saves and costs, and how lorafleet compares with
// Hugging Face transformers + PEFT. For each model, every method asked for (full fine-tuning,
// LoRA, QLoRA) trains the same model shape on the same data with the same batch, each in its own
// child process so peak-memory figures do not mix; with --peer PYTHON, bench/hf_peer.py trains the
// same shape with PEFT's LoRA in the same run, interleaved with ours (--repeat times each), and
// the ratio of the medians is printed. On CUDA it reports MFU (bench_support.h's FLOP count).
//
//   train_bench [--models tiny,gpt2-small] [--methods full,lora] [--steps N] [--rank 8]
//               [--device cpu|cuda] [--dtype fp32|bf16] [--peer PYTHON] [--json FILE] ...
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "common/flags.h"
#include "worker/data/jsonl_reader.h"
#include "worker/data/packed_loader.h"
#include "worker/data/shuffle.h"
#include "worker/peft/adapter.h"
#include "worker/peft/qlora.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/memory.h"
#include "worker/train/precision.h"
#include "worker/train/trainer.h"

namespace {

using namespace lf;
using namespace lf::worker;

constexpr const char* kTinyModel = "examples/models/tiny-gpt2";
constexpr const char* kTinyData = "examples/data/medical/train.jsonl";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "train_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  std::string models = "tiny,gpt2-small";
  std::string methods = "full,lora";
  int64_t steps = 0, warmup = 1, seq = 0, batch = 0, rank = 8, repeat = 1;
  double alpha = 16;
  std::string targets = "all";  // "all": every linear layer of the blocks
  std::string device = "cpu", dtype = "fp32";
  int threads = 0;
  std::string peer, peer_methods = "lora", json;
  std::string one_model, one_method;  // internal: one measurement in this process
};

// The shape each model trains at unless the flags say otherwise.
struct Shape {
  int64_t seq, batch, steps;
};
Shape DefaultShape(const std::string& model) {
  if (model == "tiny") return {128, 16, 40};
  if (model == "llama-3.2-1b") return {2048, 1, 20};
  return {256, 2, 4};
}
Shape ShapeOf(const Options& o, const std::string& model) {
  Shape s = DefaultShape(model);
  if (o.seq > 0) s.seq = o.seq;
  if (o.batch > 0) s.batch = o.batch;
  if (o.steps > 0) s.steps = o.steps;
  return s;
}

// Synthetic token stream for random models: speed does not depend on what the tokens say.
std::vector<Example> RandomExamples(int64_t vocab, int64_t tokens) {
  SplitMix64 rng(1);
  Example e;
  for (int64_t i = 0; i < tokens; ++i) {
    e.ids.push_back(static_cast<int32_t>(rng.Below(static_cast<uint64_t>(vocab))));
    e.loss.push_back(1);
  }
  return {std::move(e)};
}

int RunOne(const Options& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  // The process before any tensor exists: LibTorch's code and runtime, the same for every run.
  const int64_t baseline = CurrentMemoryBytes();
  const Shape shape = ShapeOf(o, o.one_model);
  const torch::Device device(o.device);
  // train.precision as a job would resolve it: bf16 for adapters when asked; full fine-tuning
  // trains its weights in fp32 (TrainPrecision refuses bf16 for method full).
  const jobs::Method method = o.one_method == "full"    ? jobs::Method::kFull
                              : o.one_method == "qlora" ? jobs::Method::kQlora
                                                        : jobs::Method::kLora;
  jobs::JobSpec precision_job;
  precision_job.method = method;
  precision_job.train.precision = o.dtype == "bf16" && method != jobs::Method::kFull
                                      ? jobs::Precision::kBf16
                                      : jobs::Precision::kFp32;
  auto precision = TrainPrecision(precision_job, device);
  if (!precision.ok()) Die(precision.status().ToString());
  const torch::Dtype dtype = ComputeDtype(*precision);
  const LoadOptions load{.dtype = dtype, .device = device};
  std::unique_ptr<CausalLm> model;
  std::vector<Example> examples;
  if (o.one_model == "tiny") {
    auto m = LoadCausalLm(kTinyModel, load);
    if (!m.ok()) Die(m.status().ToString() + " (run from the repository root)");
    model = std::move(*m);
    auto tok = LoadTokenizer(kTinyModel);
    if (!tok.ok()) Die(tok.status().ToString());
    auto ex = LoadJsonlExamples(kTinyData, **tok);
    if (!ex.ok()) Die(ex.status().ToString());
    examples = std::move(*ex);
  } else {
    auto dir = bench::ModelFolder(o.one_model);
    if (!dir.ok()) Die(dir.status().ToString());
    auto config = ReadModelConfig(*dir);
    if (!config.ok()) Die(config.status().ToString());
    auto m = NewCausalLm(*config, 0, load);
    if (!m.ok()) Die(m.status().ToString());
    model = std::move(*m);
    examples = RandomExamples(config->vocab_size,
                              (o.warmup + shape.steps + 1) * shape.batch * (shape.seq + 1) + 1);
  }
  jobs::TrainSpec spec;
  spec.steps = o.warmup + shape.steps;
  spec.batch_size = shape.batch;
  spec.lr = 1e-4;
  spec.log_every = 1000000;
  // bf16: the frozen base in bf16, as loaded above; what trains stays fp32 (master weights).
  spec.precision = *precision;
  std::unique_ptr<Adapter> adapter;
  if (o.one_method != "full") {
    jobs::JobSpec job;
    jobs::LoraSpec lora;
    lora.r = o.rank;
    lora.alpha = o.alpha;
    lora.target_modules =
        o.targets == "all" ? bench::AllLinearTargets(model->config()) : bench::SplitList(o.targets);
    job.method = method;
    job.lora = lora;
    static_cast<jobs::LoraSpec&>(job.qlora) = lora;
    auto a = CreateAdapter(*model, job, 0);
    if (!a.ok()) Die(a.status().ToString());
    adapter = std::move(*a);
  }
  auto loader =
      PackedLoader::Create(std::move(examples), {.seq_len = shape.seq, .batch_size = shape.batch});
  if (!loader.ok()) Die(loader.status().ToString());
  // Steady state: from the end of the warmup steps to the end of the last one. Every step ends
  // with the loss read back, so these host clocks see the device's work finished.
  std::vector<std::chrono::steady_clock::time_point> step_ends;
  TrainerOptions options{.progress = false};
  // On CUDA steps do not wait for the device; read back at the end of the warmup (and every as
  // many steps after it) so that the clock there sees the warmup's work finished.
  options.sync_every = std::max<int64_t>(1, o.warmup);
  options.on_step = [&](const StepMetrics&) {
    step_ends.push_back(std::chrono::steady_clock::now());
  };
  Trainer trainer(*model, adapter.get(), spec, options);
  bench::ResetDevicePeak();
  const auto t0 = std::chrono::steady_clock::now();
  auto result = trainer.Run(*loader, {});
  if (!result.ok()) Die(result.status().ToString());
  if (step_ends.size() != static_cast<size_t>(spec.steps)) Die("the run stopped early");
  const auto from = o.warmup > 0 ? step_ends[o.warmup - 1] : t0;
  const double timed_s = std::chrono::duration<double>(step_ends.back() - from).count();
  const double tokens_per_s = static_cast<double>(shape.steps * shape.batch * shape.seq) / timed_s;
  const int64_t adapter_params = result->trainable_params;
  const bench::FlopCount flops =
      bench::CountFlops(*model, adapter_params, adapter == nullptr, shape.seq);
  double base_bytes_per_param = static_cast<double>(torch::elementSize(dtype));
  if (adapter != nullptr) {
    if (auto q = QuantizedBaseOf(*adapter)) base_bytes_per_param = q->bytes_per_param();
  }
  Json out = {{"impl", "lorafleet"},
              {"method", o.one_method},
              {"device", bench::DeviceName(device)},
              {"dtype", std::string(jobs::PrecisionName(*precision))},
              {"threads", torch::get_num_threads()},
              {"seq", shape.seq},
              {"batch", shape.batch},
              {"steps", shape.steps},
              {"warmup", o.warmup},
              {"tokens_per_s", tokens_per_s},
              {"peak_memory_bytes",
               device.is_cuda() ? bench::DevicePeakBytes() : result->peak_memory_bytes},
              {"baseline_memory_bytes", device.is_cuda() ? 0 : baseline},
              {"trainable_params", result->trainable_params},
              {"base_params", result->base_params},
              {"base_bytes_per_param", base_bytes_per_param},
              {"flops_per_token", flops.per_token()},
              {"achieved_tflops", flops.per_token() * tokens_per_s / 1e12},
              {"final_loss", result->losses.back()}};
  if (device.is_cuda() && dtype == torch::kBFloat16) {  // the peak is bf16's
    out["mfu"] = flops.per_token() * tokens_per_s / bench::kH200Bf16PeakSpec;
    out["mfu_of_measured_peak"] = flops.per_token() * tokens_per_s / bench::kH200Bf16PeakMeasured;
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

std::string CommonFlags(const Options& o, const std::string& model) {
  const Shape s = ShapeOf(o, model);
  return " --seq " + std::to_string(s.seq) + " --batch " + std::to_string(s.batch) + " --steps " +
         std::to_string(s.steps) + " --warmup " + std::to_string(o.warmup) + " --device " +
         o.device + " --dtype " + o.dtype +
         (o.threads > 0 ? " --threads " + std::to_string(o.threads) : "");
}

Json Ours(const char* self, const Options& o, const std::string& model, const std::string& method) {
  const std::string cmd = Quote(self) + " --one-model " + Quote(model) + " --one-method " + method +
                          " --rank " + std::to_string(o.rank) + " --alpha " +
                          std::to_string(o.alpha) + " --targets " + Quote(o.targets) +
                          CommonFlags(o, model);
  auto j = bench::RunForJson(cmd);
  if (!j.ok()) Die(j.status().ToString());
  return *j;
}

Json Peer(const Options& o, const std::string& model, const std::string& method) {
  auto dir = bench::ModelFolder(model == "tiny" ? kTinyModel : model);
  if (!dir.ok()) Die(dir.status().ToString());
  auto config = ReadModelConfig(*dir);
  if (!config.ok()) Die(config.status().ToString());
  const std::string targets =
      o.targets == "all" ? bench::JoinList(bench::AllLinearTargets(*config)) : o.targets;
  const std::string cmd = Quote(o.peer) + " " + Quote(bench::BenchDir() + "/hf_peer.py") +
                          " --config " + Quote(*dir) + " --method " + method + " --rank " +
                          std::to_string(o.rank) + " --alpha " + std::to_string(o.alpha) +
                          " --targets " + Quote(targets) + CommonFlags(o, model) +
                          // full fine-tuning trains in fp32 on our side (see RunOne): so there too
                          (method == "full" ? " --dtype fp32" : "");
  auto j = bench::RunForJson(cmd);
  if (!j.ok()) Die(j.status().ToString());
  return *j;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : (n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

// The runs of one (impl, method), summarised: medians of tokens/s and peak memory.
Json Summarise(const std::vector<Json>& runs) {
  std::vector<double> tps, peak, above;
  for (const Json& r : runs) {
    tps.push_back(r["tokens_per_s"].get<double>());
    peak.push_back(r["peak_memory_bytes"].get<double>());
    above.push_back(r["peak_memory_bytes"].get<double>() - r.value("baseline_memory_bytes", 0.0));
  }
  Json s = runs.back();
  s["runs"] = runs.size();
  s["tokens_per_s_runs"] = tps;
  s["tokens_per_s"] = Median(tps);
  s["peak_memory_bytes"] = Median(peak);
  s["peak_above_baseline_bytes"] = Median(above);
  if (s.contains("flops_per_token")) {
    s["achieved_tflops"] = s["flops_per_token"].get<double>() * Median(tps) / 1e12;
    if (s.contains("mfu"))
      s["mfu"] = s["flops_per_token"].get<double>() * Median(tps) / bench::kH200Bf16PeakSpec;
  }
  return s;
}

void PrintRow(const std::string& model, const std::string& who, const Json& j) {
  const double pct = 100.0 * j["trainable_params"].get<double>() / j["base_params"].get<double>();
  std::printf("%-13s %-24s %9.3f%% %11.0f %9.0f MB %9.0f MB", model.c_str(), who.c_str(), pct,
              j["tokens_per_s"].get<double>(), j["peak_memory_bytes"].get<double>() / 1e6,
              j["peak_above_baseline_bytes"].get<double>() / 1e6);
  if (j.contains("mfu"))
    std::printf("  %6.1f TFLOP/s  MFU %5.1f%%", j["achieved_tflops"].get<double>(),
                100 * j["mfu"].get<double>());
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto app = lf::flags::MakeApp(
      "train_bench",
      "Full fine-tuning, LoRA and QLoRA of the same model, data and batch, one process per "
      "measurement: tokens/s, peak memory, trainable share, MFU on CUDA; with --peer, Hugging Face "
      "transformers + PEFT on the same shapes in the same run.");
  app->add_option("--models", o.models,
                  "comma-separated: tiny (examples/models/tiny-gpt2 on its data), or random "
                  "weights: gpt2-small, llama-110m, llama-3.2-1b (bench/models) or a folder with "
                  "a config.json");
  app->add_option("--methods", o.methods, "comma-separated: full, lora, qlora");
  app->add_option("--steps", o.steps,
                  "timed optimizer steps; 0: 40 for tiny, 20 for llama-3.2-1b, 4 otherwise")
      ->check(lf::flags::IntAtLeast(0));
  app->add_option("--warmup", o.warmup, "untimed steps before them")
      ->check(lf::flags::IntAtLeast(0));
  app->add_option("--seq", o.seq,
                  "tokens per sequence; 0: 128 tiny, 2048 llama-3.2-1b, 256 otherwise")
      ->check(lf::flags::IntAtLeast(0));
  app->add_option("--batch", o.batch, "sequences per step; 0: 16 tiny, 1 llama-3.2-1b, 2 otherwise")
      ->check(lf::flags::IntAtLeast(0));
  app->add_option("--rank", o.rank, "LoRA and QLoRA rank")->check(lf::flags::IntAtLeast(1));
  app->add_option("--alpha", o.alpha, "LoRA alpha");
  app->add_option("--targets", o.targets,
                  "LoRA target modules, comma-separated; all: every linear layer of the blocks");
  app->add_option("--device", o.device, "cpu or cuda");
  app->add_option("--dtype", o.dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  app->add_option("--threads", o.threads, "LibTorch's intra-op threads (0: LibTorch's default)")
      ->check(lf::flags::IntAtLeast(0));
  app->add_option("--peer", o.peer,
                  "a Python with torch, transformers and peft: also run bench/hf_peer.py")
      ->type_name("PYTHON");
  app->add_option("--peer-methods", o.peer_methods, "which methods the peer runs (lora, full)");
  app->add_option("--repeat", o.repeat,
                  "measurements of each, interleaved with the peer's; "
                  "medians are reported")
      ->check(lf::flags::IntAtLeast(1));
  app->add_option("--json", o.json, "also write every figure to FILE")->type_name("FILE");
  app->add_option("--one-model", o.one_model)->group("");  // internal: one measurement
  app->add_option("--one-method", o.one_method)->group("");
  if (std::optional<int> rc = lf::flags::Parse(*app, argc, argv)) return *rc;
  if (!o.one_model.empty()) return RunOne(o);

  const double load_before = lf::bench::LoadAverage();
  std::printf(
      "train_bench: %s on %s (%s), LoRA r=%lld on %s; one process per measurement; "
      "medians of %lld interleaved run(s); load average %.2f\n",
      o.methods.c_str(), o.device.c_str(), o.dtype.c_str(), static_cast<long long>(o.rank),
      o.targets == "all" ? "every linear layer" : o.targets.c_str(),
      static_cast<long long>(o.repeat), load_before);
  if (o.device != "cpu")
    std::printf("FLOPs per token: %s; MFU against %.0f TFLOP/s (H200 bf16 dense, datasheet)\n",
                lf::bench::kFlopFormula, lf::bench::kH200Bf16PeakSpec / 1e12);
  std::printf("\n%-13s %-24s %10s %11s %12s %12s\n", "model", "method", "trainable", "tokens/s",
              "peak memory", "above base");
  Json all = {{"device", o.device},
              {"dtype", o.dtype},
              {"rank", o.rank},
              {"targets", o.targets},
              {"flop_formula", lf::bench::kFlopFormula},
              {"peak_flops_spec", lf::bench::kH200Bf16PeakSpec},
              {"load_average_before", load_before},
              {"models", Json::object()}};
  const auto methods = lf::bench::SplitList(o.methods);
  const auto peer_methods = lf::bench::SplitList(o.peer_methods);
  for (const std::string& model : lf::bench::SplitList(o.models)) {
    std::map<std::string, std::vector<Json>> runs;  // "lorafleet lora", "peer lora", ...
    for (int64_t rep = 0; rep < o.repeat; ++rep) {
      for (const std::string& method : methods) {
        runs["lorafleet " + method].push_back(Ours(argv[0], o, model, method));
        if (!o.peer.empty() &&
            std::find(peer_methods.begin(), peer_methods.end(), method) != peer_methods.end()) {
          runs["peer " + method].push_back(Peer(o, model, method));
        }
      }
    }
    Json m = Json::object();
    for (const auto& [key, list] : runs) {
      m[key] = Summarise(list);
      PrintRow(model,
               key == "peer lora"   ? "transformers+peft lora"
               : key == "peer full" ? "transformers full"
                                    : key,
               m[key]);
    }
    auto ratio = [&](const std::string& a, const std::string& b, const char* field) {
      return m[a][field].get<double>() / std::max(1.0, m[b][field].get<double>());
    };
    Json ratios = Json::object();
    if (m.contains("lorafleet lora") && m.contains("lorafleet full")) {
      ratios["lora_over_full_tokens_per_s"] =
          ratio("lorafleet lora", "lorafleet full", "tokens_per_s");
      ratios["lora_over_full_peak_above_baseline"] =
          ratio("lorafleet lora", "lorafleet full", "peak_above_baseline_bytes");
      std::printf("%-13s LoRA/full: %.2fx tokens/s, %.2fx peak memory above the baseline\n",
                  model.c_str(), ratios["lora_over_full_tokens_per_s"].get<double>(),
                  ratios["lora_over_full_peak_above_baseline"].get<double>());
    }
    if (m.contains("lorafleet qlora") && m.contains("lorafleet lora")) {
      ratios["qlora_over_lora_tokens_per_s"] =
          ratio("lorafleet qlora", "lorafleet lora", "tokens_per_s");
      ratios["qlora_over_lora_peak"] =
          ratio("lorafleet qlora", "lorafleet lora", "peak_above_baseline_bytes");
      std::printf(
          "%-13s QLoRA/LoRA: %.2fx tokens/s (aim >= 0.8x), %.2fx peak memory; base bytes per "
          "quantised parameter %.3f (LoRA's base: %.0f)\n",
          model.c_str(), ratios["qlora_over_lora_tokens_per_s"].get<double>(),
          ratios["qlora_over_lora_peak"].get<double>(),
          m["lorafleet qlora"]["base_bytes_per_param"].get<double>(),
          m["lorafleet lora"]["base_bytes_per_param"].get<double>());
    }
    for (const std::string method : {"lora", "full"}) {
      if (!m.contains("peer " + method) || !m.contains("lorafleet " + method)) continue;
      ratios["ours_over_peer_" + method + "_tokens_per_s"] =
          ratio("lorafleet " + method, "peer " + method, "tokens_per_s");
      ratios["ours_over_peer_" + method + "_peak"] =
          ratio("lorafleet " + method, "peer " + method, "peak_above_baseline_bytes");
      // Each of our runs beside the peer's run right after it (the same load, on a shared
      // machine): the median of those ratios moves less than the ratio of the medians.
      std::vector<double> pairs;
      const auto& ours_runs = runs["lorafleet " + method];
      const auto& peer_runs = runs["peer " + method];
      for (size_t i = 0; i < std::min(ours_runs.size(), peer_runs.size()); ++i) {
        pairs.push_back(ours_runs[i]["tokens_per_s"].get<double>() /
                        peer_runs[i]["tokens_per_s"].get<double>());
      }
      ratios["ours_over_peer_" + method + "_tokens_per_s_pairs"] = pairs;
      ratios["ours_over_peer_" + method + "_tokens_per_s_median_pair"] = Median(pairs);
      std::printf(
          "%-13s lorafleet/transformers %s: %.2fx tokens/s (median of %zu interleaved pairs "
          "%.2fx; aim >= %.1fx), %.2fx peak memory above the baseline\n",
          model.c_str(), method.c_str(),
          ratios["ours_over_peer_" + method + "_tokens_per_s"].get<double>(), pairs.size(),
          Median(pairs), o.device == "cpu" ? 1.2 : 1.3,
          ratios["ours_over_peer_" + method + "_peak"].get<double>());
    }
    if (model == "gpt2-small" && m.contains("lorafleet lora") && m.contains("lorafleet full") &&
        o.device == "cpu") {
      const bool met = ratios["lora_over_full_tokens_per_s"].get<double>() >= 1.4 &&
                       ratios["lora_over_full_peak_above_baseline"].get<double>() <= 0.5;
      std::printf("aim at GPT-2-small size: LoRA >= 1.4x tokens/s and <= 0.5x peak memory -> %s\n",
                  met ? "met" : "NOT met");
    }
    m["ratios"] = ratios;
    all["models"][model] = m;
    std::printf("\n");
  }
  all["load_average_after"] = lf::bench::LoadAverage();
  std::printf("load average after: %.2f\n", all["load_average_after"].get<double>());
  if (!o.json.empty()) {
    std::ofstream f(o.json);
    f << all.dump(2) << "\n";
    if (!f) Die("cannot write " + o.json);
  }
  return 0;
}
