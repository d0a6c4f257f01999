// An ExperimentStore kept in process memory: the fake that lets coordinator, scheduler and API
// tests run without a RocksDB directory. It follows the interface's semantics exactly (the store
// conformance tests run against both implementations; the rules themselves are shared through
// store_rules.h), but nothing survives the object, so "durable" means "visible to later calls".
// Backup is kUnimplemented: there are no files to copy. Thread-safe: one mutex guards everything.
#pragma once

#include <memory>

#include "coordinator/store/experiment_store.h"

namespace lf::store {

// `clock` stamps records and events; it must outlive the store.
std::unique_ptr<ExperimentStore> NewMemoryStore(const Clock* clock = &SystemClock());

}  // namespace lf::store
