// `lorafleet eval`, `tokenize`, `generate` and `merge`: using base models and adapters.
#include <cstdio>
#include <iostream>
#include <iterator>

#include "cli/commands/commands.h"
#include "cli/commands/command_flags.h"
#include "cli/commands/remote.h"
#include "common/json_reader.h"
#include "worker/worker_api.h"

namespace lf::cli {

int RunEval(const std::vector<std::string>& args) {
  EvalFlags flags;
  AppPtr app = EvalApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  auto report = worker::EvaluateFile(flags.base, flags.adapter, flags.data, flags.logits);
  if (!report.ok()) return ReportError("eval", report.status());
  if (flags.json) {
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
  TokenizeFlags flags;
  AppPtr app = TokenizeApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  auto ids = worker::TokenizeText(flags.tokenizer, text);
  if (!ids.ok()) return ReportError("tokenize", ids.status());
  if (flags.json) {
    std::cout << Json(*ids).dump() << "\n";
  } else {
    for (size_t i = 0; i < ids->size(); ++i) std::cout << (i ? " " : "") << (*ids)[i];
    std::cout << "\n";
  }
  return 0;
}

int RunGenerate(const std::vector<std::string>& args) {
  GenerateFlags flags;
  AppPtr app = GenerateApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  const std::vector<std::string>& adapters = flags.adapters;
  const bool chat = flags.chat;
  auto outputs = worker::Generate(flags.base, adapters, flags.prompt,
                                  {.max_new_tokens = flags.max_new_tokens, .chat = chat});
  if (!outputs.ok()) return ReportError("generate", outputs.status());
  for (size_t i = 0; i < outputs->size(); ++i) {
    if (adapters.size() > 1) std::printf("== %s\n", adapters[i].c_str());
    // A reply stands alone; a plain continuation is shown after its prompt.
    std::printf("%s%s\n", chat ? "" : flags.prompt.c_str(), (*outputs)[i].c_str());
  }
  return 0;
}

int RunMerge(const std::vector<std::string>& args) {
  MergeFlags flags;
  AppPtr app = MergeApp(flags);
  if (std::optional<int> rc = flags::Parse(*app, args)) return *rc;
  Status st = worker::MergeAdapter(flags.base, flags.adapter, flags.out);
  if (!st.ok()) return ReportError("merge", st);
  std::printf("merged %s into %s: %s\n", flags.adapter.c_str(), flags.base.c_str(),
              flags.out.c_str());
  return 0;
}

}  // namespace lf::cli
