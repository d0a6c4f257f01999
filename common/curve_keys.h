// The CURVE keys (ZeroMQ's CurveZMQ: Curve25519 key exchange, 40-character Z85 keys) by which
// the coordinator lets only its own fleet's workers in. `lorafleetd --worker-keys DIR` creates
// DIR (0700) with two files (0600) the first time and reads them on every later start:
//   DIR/coordinator.key  the coordinator's key pair and the workers' public key (lorafleetd)
//   DIR/worker.key       the coordinator's public key and the workers' key pair (every rank,
//                        `lorafleet-worker --keys DIR/worker.key`)
// The fleet's ranks share one key pair: whoever can read worker.key can be a worker, as whoever
// can read the access token can submit. Lines are `name = value`; '#' starts a comment line.
// Errors name the file and the key and say what to do. Thread-safe (no shared state).
#pragma once

#include <string>

#include "common/status.h"

namespace lf::curve {

struct KeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;
};

struct CoordinatorKeys {
  KeyPair coordinator;
  std::string worker_public;  // the one client key the coordinator accepts
};

struct WorkerKeys {
  std::string coordinator_public;
  KeyPair worker;
};

inline constexpr const char* kCoordinatorKeyFile = "coordinator.key";
inline constexpr const char* kWorkerKeyFile = "worker.key";

// Reads DIR/coordinator.key, or creates both files (new keys from libsodium through libzmq)
// when it does not exist yet. FailedPrecondition when this libzmq was built without CURVE.
Result<CoordinatorKeys> LoadOrCreateKeys(const std::string& dir);
Result<CoordinatorKeys> ReadCoordinatorKeys(const std::string& path);
Result<WorkerKeys> ReadWorkerKeys(const std::string& path);

// A fresh key pair (for tests, and LoadOrCreateKeys).
Result<KeyPair> NewKeyPair();

}  // namespace lf::curve
