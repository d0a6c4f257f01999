#include "common/curve_keys.h"

#include <zmq.h>

#include <array>
#include <filesystem>
#include <map>
#include <sstream>

#include "common/file_util.h"

namespace lf::curve {
namespace {

namespace fs = std::filesystem;
using KeyFile = std::map<std::string, std::string>;

std::string Trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

std::string RemakeHint(const std::string& path) {
  return "; delete " + fs::path(path).parent_path().string() +
         " and restart the fleet (`lorafleet down`, `lorafleet up`) to make new keys";
}

Result<KeyFile> ParseKeyFile(const std::string& path) {
  LF_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 64 << 10));
  KeyFile keys;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return InvalidArgument(path + ":" + std::to_string(number) +
                             ": expected `name = value`" + RemakeHint(path));
    }
    keys[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  return keys;
}

// A 40-character Z85 key that decodes to 32 bytes.
Result<std::string> Key(const KeyFile& keys, const std::string& path, const std::string& name) {
  auto it = keys.find(name);
  if (it == keys.end()) {
    return InvalidArgument(path + ": no `" + name + "`" + RemakeHint(path)).WithField(name);
  }
  std::array<uint8_t, 32> bytes{};
  if (it->second.size() != 40 || zmq_z85_decode(bytes.data(), it->second.c_str()) == nullptr) {
    return InvalidArgument(path + ": `" + name + "` is not a 40-character Z85 CURVE key" +
                           RemakeHint(path))
        .WithField(name);
  }
  return it->second;
}

std::string Line(const std::string& name, const std::string& value) {
  return name + " = " + value + "\n";
}

}  // namespace

Result<KeyPair> NewKeyPair() {
  if (zmq_has("curve") == 0) {
    return FailedPrecondition("this libzmq was built without CURVE security; install Debian's "
                              "libzmq5 (built with libsodium)");
  }
  std::array<char, 41> public_key{}, secret_key{};
  if (zmq_curve_keypair(public_key.data(), secret_key.data()) != 0) {
    return Internal(std::string("making a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  }
  return KeyPair{public_key.data(), secret_key.data()};
}

Result<CoordinatorKeys> ReadCoordinatorKeys(const std::string& path) {
  LF_ASSIGN_OR_RETURN(KeyFile file, ParseKeyFile(path));
  CoordinatorKeys keys;
  LF_ASSIGN_OR_RETURN(keys.coordinator.public_key, Key(file, path, "coordinator_public"));
  LF_ASSIGN_OR_RETURN(keys.coordinator.secret_key, Key(file, path, "coordinator_secret"));
  LF_ASSIGN_OR_RETURN(keys.worker_public, Key(file, path, "worker_public"));
  return keys;
}

Result<WorkerKeys> ReadWorkerKeys(const std::string& path) {
  LF_ASSIGN_OR_RETURN(KeyFile file, ParseKeyFile(path));
  WorkerKeys keys;
  LF_ASSIGN_OR_RETURN(keys.coordinator_public, Key(file, path, "coordinator_public"));
  LF_ASSIGN_OR_RETURN(keys.worker.public_key, Key(file, path, "worker_public"));
  LF_ASSIGN_OR_RETURN(keys.worker.secret_key, Key(file, path, "worker_secret"));
  return keys;
}

Result<CoordinatorKeys> LoadOrCreateKeys(const std::string& dir) {
  const std::string coordinator_file = (fs::path(dir) / kCoordinatorKeyFile).string();
  const std::string worker_file = (fs::path(dir) / kWorkerKeyFile).string();
  LF_RETURN_IF_ERROR(CreatePrivateDirectory(dir));
  std::error_code ec;
  if (fs::exists(coordinator_file, ec)) return ReadCoordinatorKeys(coordinator_file);

  CoordinatorKeys keys;
  LF_ASSIGN_OR_RETURN(keys.coordinator, NewKeyPair());
  LF_ASSIGN_OR_RETURN(KeyPair worker, NewKeyPair());
  keys.worker_public = worker.public_key;
  const std::string header = "# lorafleet CURVE keys (ZeroMQ, Z85). Secret: keep it 0600.\n";
  // worker.key first: a coordinator.key on disk means both files are complete.
  LF_RETURN_IF_ERROR(WriteFileAtomically(
      worker_file,
      header + Line("coordinator_public", keys.coordinator.public_key) +
          Line("worker_public", worker.public_key) + Line("worker_secret", worker.secret_key),
      0600));
  LF_RETURN_IF_ERROR(WriteFileAtomically(
      coordinator_file,
      header + Line("coordinator_public", keys.coordinator.public_key) +
          Line("coordinator_secret", keys.coordinator.secret_key) +
          Line("worker_public", worker.public_key),
      0600));
  return keys;
}

}  // namespace lf::curve
