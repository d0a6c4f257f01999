// The lf_sentencepiece plugin: SentencePieceProcessor behind extern "C" functions (see
// sentencepiece_model.h for why). Built as a MODULE library, never linked into a program.
#include <sentencepiece_processor.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {
sentencepiece::SentencePieceProcessor* Sp(void* p) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(p);
}
}  // namespace

extern "C" {

// Returns a processor, or null with the reason in `error` (NUL-terminated, cut to `capacity`).
void* lf_sp_load(const char* path, char* error, size_t capacity) {
  auto* sp = new sentencepiece::SentencePieceProcessor();
  const auto status = sp->Load(path);
  if (status.ok()) return sp;
  std::strncpy(error, status.ToString().c_str(), capacity - 1);
  error[capacity - 1] = '\0';
  delete sp;
  return nullptr;
}

void lf_sp_free(void* sp) { delete Sp(sp); }

// Calls emit(context, id, begin, end) for each piece of `text`.
void lf_sp_encode(void* sp, const char* text, size_t size,
                  void (*emit)(void*, int32_t, uint32_t, uint32_t), void* context) {
  const sentencepiece::ImmutableSentencePieceText pieces =
      Sp(sp)->EncodeAsImmutableProto(std::string_view(text, size));
  for (const auto& piece : pieces.pieces()) {
    emit(context, static_cast<int32_t>(piece.id()), piece.begin(), piece.end());
  }
}

// Calls out(context, bytes, size) with the decoded text.
void lf_sp_decode(void* sp, const int* ids, size_t count, void (*out)(void*, const char*, size_t),
                  void* context) {
  const std::string text = Sp(sp)->DecodeIds(std::vector<int>(ids, ids + count));
  out(context, text.data(), text.size());
}

void lf_sp_id_to_piece(void* sp, int id, void (*out)(void*, const char*, size_t), void* context) {
  const std::string piece = Sp(sp)->IdToPiece(id);
  out(context, piece.data(), piece.size());
}

int lf_sp_piece_to_id(void* sp, const char* piece, size_t size) {
  return Sp(sp)->PieceToId(std::string_view(piece, size));
}

int lf_sp_piece_size(void* sp) { return Sp(sp)->GetPieceSize(); }
int lf_sp_is_control(void* sp, int id) { return Sp(sp)->IsControl(id) ? 1 : 0; }
int lf_sp_is_unknown(void* sp, int id) { return Sp(sp)->IsUnknown(id) ? 1 : 0; }
int lf_sp_bos_id(void* sp) { return Sp(sp)->bos_id(); }
int lf_sp_eos_id(void* sp) { return Sp(sp)->eos_id(); }
int lf_sp_unk_id(void* sp) { return Sp(sp)->unk_id(); }

}  // extern "C"
