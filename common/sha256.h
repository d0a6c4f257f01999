// SHA-256 digests for lineage (base models, data files) and for the checksums the experiment
// store keeps beside every adapter. OpenSSL's implementation (uses SHA-NI where the CPU has it).
// A Sha256 object is used by one thread at a time; the free functions are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lf {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  Sha256Digest Finish();  // the object may not be updated afterwards

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Sha256Digest Sha256Of(std::string_view bytes);
std::string Sha256Hex(std::string_view bytes);
// Streams the file; errors name the path.
Result<std::string> Sha256FileHex(const std::string& path);
std::string ToHex(const Sha256Digest& digest);

}  // namespace lf
