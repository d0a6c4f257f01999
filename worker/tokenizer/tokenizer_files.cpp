#include "worker/tokenizer/tokenizer_files.h"

#include <filesystem>

namespace lf::worker {

Status CopyTokenizerFiles(const std::string& from_dir, const std::string& to_dir) {
  namespace fs = std::filesystem;
  std::error_code same_ec;
  if (fs::equivalent(from_dir, to_dir, same_ec)) return Status::Ok();  // already there
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                           "tokenizer.model", "vocab.json", "merges.txt", "special_tokens_map.json",
                           "added_tokens.json", "generation_config.json"}) {
    const fs::path from = fs::path(from_dir) / name;
    std::error_code ec;
    if (!fs::exists(from, ec)) continue;
    fs::copy_file(from, fs::path(to_dir) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) return Internal("copying " + from.string() + " to " + to_dir + ": " + ec.message());
  }
  return Status::Ok();
}

}  // namespace lf::worker
