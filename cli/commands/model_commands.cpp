// `lorafleet eval`, `tokenize`, `generate` and `merge`: using base models and adapters.
#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/commands/commands.h"
#include "cli/commands/flags.h"
#include "common/json_reader.h"
#include "worker/worker_api.h"

namespace lf::cli {

int RunEval(const std::vector<std::string>& args) {
  constexpr const char* kUsage =
      "usage: lorafleet eval --base DIR [--adapter DIR] --data FILE.jsonl [--json]\n"
      "         [--logits OUT.safetensors]   (the first line's logits, for comparisons)\n";
  auto flags = Flags::Parse(args, {.options = {"--base", "--adapter", "--data", "--logits"},
                                   .switches = {"--json"}});
  if (!flags.ok()) return ReportError("eval", flags.status(), kUsage);
  auto base = flags->Required("--base");
  auto data = flags->Required("--data");
  if (!base.ok()) return ReportError("eval", base.status(), kUsage);
  if (!data.ok()) return ReportError("eval", data.status(), kUsage);
  auto report = worker::EvaluateFile(*base, flags->Get("--adapter").value_or(""), *data,
                                     flags->Get("--logits").value_or(""));
  if (!report.ok()) return ReportError("eval", report.status());
  if (flags->Has("--json")) {
    std::cout << Json({{"loss", report->loss}, {"perplexity", report->perplexity},
                       {"tokens", report->tokens}})
                     .dump()
              << "\n";
  } else {
    std::printf("loss %.6f  perplexity %.4f  tokens %lld\n", report->loss, report->perplexity,
                static_cast<long long>(report->tokens));
  }
  return 0;
}

int RunTokenize(const std::vector<std::string>& args) {
  constexpr const char* kUsage = "usage: lorafleet tokenize --tokenizer DIR [--json] < text\n";
  auto flags = Flags::Parse(args, {.options = {"--tokenizer"}, .switches = {"--json"}});
  if (!flags.ok()) return ReportError("tokenize", flags.status(), kUsage);
  auto dir = flags->Required("--tokenizer");
  if (!dir.ok()) return ReportError("tokenize", dir.status(), kUsage);
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto ids = worker::TokenizeText(*dir, text);
  if (!ids.ok()) return ReportError("tokenize", ids.status());
  if (flags->Has("--json")) {
    std::cout << Json(*ids).dump() << "\n";
  } else {
    for (size_t i = 0; i < ids->size(); ++i) std::cout << (i ? " " : "") << (*ids)[i];
    std::cout << "\n";
  }
  return 0;
}

int RunGenerate(const std::vector<std::string>& args) {
  constexpr const char* kUsage =
      "usage: lorafleet generate --base DIR [--adapter DIR]... --prompt TEXT "
      "[--max-new-tokens N] [--chat]\n"
      "  --chat: the prompt is a user message, rendered with the model's chat template\n";
  auto flags = Flags::Parse(args, {.options = {"--base", "--adapter", "--prompt", "--max-new-tokens"},
                                   .switches = {"--chat"},
                                   .repeatable = {"--adapter"}});
  if (!flags.ok()) return ReportError("generate", flags.status(), kUsage);
  auto base = flags->Required("--base");
  auto prompt = flags->Required("--prompt");
  auto max_new = flags->Int("--max-new-tokens", 64, 1);
  for (const Status& s : {base.status(), prompt.status(), max_new.status()}) {
    if (!s.ok()) return ReportError("generate", s, kUsage);
  }
  const std::vector<std::string> adapters = flags->GetAll("--adapter");
  const bool chat = flags->Has("--chat");
  auto outputs = worker::Generate(*base, adapters, *prompt,
                                  {.max_new_tokens = *max_new, .chat = chat});
  if (!outputs.ok()) return ReportError("generate", outputs.status());
  for (size_t i = 0; i < outputs->size(); ++i) {
    if (adapters.size() > 1) std::printf("== %s\n", adapters[i].c_str());
    // A reply stands alone; a plain continuation is shown after its prompt.
    std::printf("%s%s\n", chat ? "" : prompt->c_str(), (*outputs)[i].c_str());
  }
  return 0;
}

int RunMerge(const std::vector<std::string>& args) {
  constexpr const char* kUsage = "usage: lorafleet merge --base DIR --adapter DIR --out DIR\n";
  auto flags = Flags::Parse(args, {.options = {"--base", "--adapter", "--out"}});
  if (!flags.ok()) return ReportError("merge", flags.status(), kUsage);
  auto base = flags->Required("--base");
  auto adapter = flags->Required("--adapter");
  auto out = flags->Required("--out");
  for (const Status& s : {base.status(), adapter.status(), out.status()}) {
    if (!s.ok()) return ReportError("merge", s, kUsage);
  }
  Status st = worker::MergeAdapter(*base, *adapter, *out);
  if (!st.ok()) return ReportError("merge", st);
  std::printf("merged %s into %s: %s\n", adapter->c_str(), base->c_str(), out->c_str());
  return 0;
}

}  // namespace lf::cli
