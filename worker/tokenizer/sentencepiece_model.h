// libsentencepiece behind dlopen. Debian's libsentencepiece carries its own copy of protobuf-lite
// and exports it, and LibTorch loads the full libprotobuf of another version: linked into one
// process, each library's symbols replace the other's and the process crashes before main. So
// lf_sentencepiece (sentencepiece_plugin.cpp) is a plugin with a small C interface, loaded on
// first use with RTLD_LOCAL | RTLD_DEEPBIND: its protobuf stays its own. Internal to
// worker/tokenizer. A SentencePieceModel is immutable after Load: thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace lf::worker {

class SentencePieceModel {
 public:
  // Loads a tokenizer.model file; errors name it.
  static Result<std::unique_ptr<SentencePieceModel>> Load(const std::string& path);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  struct Piece {
    int32_t id;
    uint32_t begin, end;  // bytes of the encoded text
  };
  std::vector<Piece> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int>& ids) const;

  int PieceSize() const;
  int PieceToId(std::string_view piece) const;  // unk_id() for an unknown piece
  std::string IdToPiece(int id) const;
  bool IsControl(int id) const;
  bool IsUnknown(int id) const;
  int bos_id() const;
  int eos_id() const;
  int unk_id() const;

 private:
  explicit SentencePieceModel(void* handle) : handle_(handle) {}
  void* handle_;  // the module's processor
};

}  // namespace lf::worker
