#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "worker/tokenizer/sentencepiece_model.h"

namespace lf::worker {
namespace {

using OutFn = void (*)(void*, const char*, size_t);
using EmitFn = void (*)(void*, int32_t, uint32_t, uint32_t);

// The plugin's functions, resolved once per process.
struct Module {
  void* (*load)(const char*, char*, size_t);
  void (*free)(void*);
  void (*encode)(void*, const char*, size_t, EmitFn, void*);
  void (*decode)(void*, const int*, size_t, OutFn, void*);
  void (*id_to_piece)(void*, int, OutFn, void*);
  int (*piece_to_id)(void*, const char*, size_t);
  int (*piece_size)(void*);
  int (*is_control)(void*, int);
  int (*is_unknown)(void*, int);
  int (*bos_id)(void*);
  int (*eos_id)(void*);
  int (*unk_id)(void*);
};

// Where the plugin is: beside the running program's lib/ (build/bin -> build/lib), else where
// this build put it.
std::vector<std::string> Candidates() {
  std::vector<std::string> out;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    out.push_back((exe.parent_path().parent_path() / "lib" / "liblf_sentencepiece.so").string());
  out.push_back(LF_SENTENCEPIECE_MODULE);
  return out;
}

Result<const Module*> LoadModule() {
  static std::once_flag once;
  static Module module;
  static Status status;
  std::call_once(once, [] {
    void* lib = nullptr;
    std::string tried, reason;
    for (const std::string& path : Candidates()) {
      // RTLD_DEEPBIND: the plugin and libsentencepiece resolve their own (protobuf) symbols
      // before the program's.
      lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (lib != nullptr) break;
      tried += (tried.empty() ? "" : ", ") + path;
      reason = dlerror();
    }
    if (lib == nullptr) {
      status = Unavailable(
          "reading tokenizer.model needs lorafleet's SentencePiece plugin, "
          "which could not be loaded (tried " +
          tried + ": " + reason +
          "); rebuild lorafleet, or save the tokenizer as tokenizer.json with "
          "transformers' tokenizer.save_pretrained");
      return;
    }
    auto sym = [&](const char* name, auto& fn) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (fn == nullptr && status.ok()) status = Internal(std::string("plugin lacks ") + name);
    };
    sym("lf_sp_load", module.load);
    sym("lf_sp_free", module.free);
    sym("lf_sp_encode", module.encode);
    sym("lf_sp_decode", module.decode);
    sym("lf_sp_id_to_piece", module.id_to_piece);
    sym("lf_sp_piece_to_id", module.piece_to_id);
    sym("lf_sp_piece_size", module.piece_size);
    sym("lf_sp_is_control", module.is_control);
    sym("lf_sp_is_unknown", module.is_unknown);
    sym("lf_sp_bos_id", module.bos_id);
    sym("lf_sp_eos_id", module.eos_id);
    sym("lf_sp_unk_id", module.unk_id);
  });
  if (!status.ok()) return status;
  return &module;
}

const Module& M() { return **LoadModule(); }  // Load succeeded before any model exists

void AppendTo(void* context, const char* bytes, size_t size) {
  static_cast<std::string*>(context)->append(bytes, size);
}

}  // namespace

Result<std::unique_ptr<SentencePieceModel>> SentencePieceModel::Load(const std::string& path) {
  LF_ASSIGN_OR_RETURN(const Module* module, LoadModule());
  char error[512] = {0};
  void* handle = module->load(path.c_str(), error, sizeof(error));
  if (handle == nullptr) {
    return InvalidArgument(path + ": not a SentencePiece model: " + error);
  }
  return std::unique_ptr<SentencePieceModel>(new SentencePieceModel(handle));
}

SentencePieceModel::~SentencePieceModel() { M().free(handle_); }

std::vector<SentencePieceModel::Piece> SentencePieceModel::Encode(std::string_view text) const {
  std::vector<Piece> pieces;
  M().encode(
      handle_, text.data(), text.size(),
      [](void* context, int32_t id, uint32_t begin, uint32_t end) {
        static_cast<std::vector<Piece>*>(context)->push_back({id, begin, end});
      },
      &pieces);
  return pieces;
}

std::string SentencePieceModel::Decode(const std::vector<int>& ids) const {
  std::string text;
  M().decode(handle_, ids.data(), ids.size(), AppendTo, &text);
  return text;
}

std::string SentencePieceModel::IdToPiece(int id) const {
  std::string piece;
  M().id_to_piece(handle_, id, AppendTo, &piece);
  return piece;
}

int SentencePieceModel::PieceToId(std::string_view piece) const {
  return M().piece_to_id(handle_, piece.data(), piece.size());
}
int SentencePieceModel::PieceSize() const { return M().piece_size(handle_); }
bool SentencePieceModel::IsControl(int id) const { return M().is_control(handle_, id) != 0; }
bool SentencePieceModel::IsUnknown(int id) const { return M().is_unknown(handle_, id) != 0; }
int SentencePieceModel::bos_id() const { return M().bos_id(handle_); }
int SentencePieceModel::eos_id() const { return M().eos_id(handle_); }
int SentencePieceModel::unk_id() const { return M().unk_id(handle_); }

}  // namespace lf::worker
