// Fuzz target: the worker protocol (jobs/protocol.h, Decode: every frame a worker or a stray peer
// sends to the coordinator's socket). The input is split into frames at kFrameSeparator, so one
// input can carry a DONE with its binary frames. Invariants: Decode never throws; a decoded
// message encodes to frames that decode to a message encoding to the same frames (Encode and
// Decode agree on every field).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/protocol.h"

namespace {

constexpr std::string_view kFrameSeparator = "\n--frame--\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> frames;
  while (true) {
    const size_t at = rest.find(kFrameSeparator);
    frames.emplace_back(rest.substr(0, at));
    if (at == std::string_view::npos) break;
    rest.remove_prefix(at + kFrameSeparator.size());
  }
  lf::Result<lf::protocol::Message> message = lf::protocol::Decode(std::move(frames));
  if (!message.ok()) {
    LF_CHECK_MSG(!message.status().message().empty(), "a refused message without a reason");
    return 0;
  }
  const std::vector<std::string> encoded = lf::protocol::Encode(*message);
  lf::Result<lf::protocol::Message> decoded = lf::protocol::Decode(encoded);
  LF_CHECK_MSG(decoded.ok(), "Encode's frames are refused by Decode: " +
                                 decoded.status().ToString() + "\n" + encoded[0]);
  LF_CHECK_MSG(decoded->index() == message->index(), "the message type changed");
  LF_CHECK_MSG(lf::protocol::Encode(*decoded) == encoded,
               "Encode(Decode(Encode(m))) differs from Encode(m): " + encoded[0]);
  return 0;
}
