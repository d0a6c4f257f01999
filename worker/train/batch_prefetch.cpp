#include "worker/train/batch_prefetch.h"

namespace lf::worker {
namespace {

torch::Tensor HostTensor(const std::vector<int64_t>& values, int64_t rows, int64_t cols,
                         bool pin) {
  torch::Tensor t =
      torch::tensor(values, torch::TensorOptions().dtype(torch::kInt64)).view({rows, cols});
  return pin ? t.pin_memory() : t;
}

}  // namespace

HostBatch MakeHostBatch(Batch batch, bool pin) {
  HostBatch out;
  out.input_ids = HostTensor(batch.input_ids, batch.rows, batch.seq_len, pin);
  out.labels = HostTensor(batch.labels, batch.rows, batch.seq_len, pin);
  if (!batch.document_ids.empty()) {
    out.document_ids = HostTensor(batch.document_ids, batch.rows, batch.seq_len, pin);
  }
  out.batch = std::move(batch);
  return out;
}

BatchPrefetcher::BatchPrefetcher(PackedLoader& loader, bool pin, size_t depth)
    : loader_(loader), pin_(pin), depth_(depth), thread_([this] { Run(); }) {}

BatchPrefetcher::~BatchPrefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchPrefetcher::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] { return stopping_ || ready_.size() < depth_; });
      if (stopping_) return;
    }
    // Outside the lock: the slow part, and only this thread touches the loader.
    HostBatch next = MakeHostBatch(loader_.Next(), pin_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(next));
    }
    changed_.notify_all();
  }
}

HostBatch BatchPrefetcher::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return !ready_.empty(); });
  HostBatch out = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();
  return out;
}

}  // namespace lf::worker
