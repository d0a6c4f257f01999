// A training run's next micro-batches made ready on a background thread while the device works
// on the current one: read from the loader and laid out as host tensors, in pinned memory when
// they go to a GPU (so the copy does not block). The prefetcher owns the loader's reads until it
// is destroyed (which stops and joins its thread); Next is called from one thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <torch/torch.h>

#include "worker/data/packed_loader.h"

namespace lf::worker {

// A batch and its tensors on the host: [rows, seq_len] int64 (document_ids undefined when the
// rows hold one document each).
struct HostBatch {
  Batch batch;
  torch::Tensor input_ids, labels, document_ids;
};
HostBatch MakeHostBatch(Batch batch, bool pin);

class BatchPrefetcher {
 public:
  // Reads `loader` up to `depth` batches ahead of Next, from its current position.
  BatchPrefetcher(PackedLoader& loader, bool pin, size_t depth = 2);
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  HostBatch Next();  // the loader's next batch, waiting for it if it is not ready yet

 private:
  void Run();

  PackedLoader& loader_;
  const bool pin_;
  const size_t depth_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<HostBatch> ready_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace lf::worker
