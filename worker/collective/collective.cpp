#include "worker/collective/collective.h"

#include "worker/collective/mpi_collective.h"
#ifdef LF_WITH_NCCL
#include "worker/collective/nccl_collective.h"
#endif

namespace lf::worker {

#ifdef LF_WITH_NCCL
constexpr bool kBuildHasNccl = true;
#else
constexpr bool kBuildHasNccl = false;
#endif

CollectiveBackend PickCollectiveBackend(const torch::Device& device, bool build_has_nccl) {
  return device.is_cuda() && build_has_nccl ? CollectiveBackend::kNccl : CollectiveBackend::kMpi;
}

// The factory: the only place that knows which implementations the build has.
Result<std::unique_ptr<Collective>> CreateCollective(const GangSpec& gang,
                                                     const torch::Device& device) {
  if (PickCollectiveBackend(device, kBuildHasNccl) == CollectiveBackend::kNccl) {
#ifdef LF_WITH_NCCL
    return CreateNcclCollective(gang, device);
#endif
  }
  return CreateMpiCollective(gang);
}

Status AllReduceGradients(Collective& collective, const std::vector<torch::Tensor>& params,
                          int64_t bucket_bytes) {
  if (collective.size() == 1) return Status::Ok();
  std::vector<torch::Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&]() -> Status {
    if (bucket.empty()) return Status::Ok();
    std::vector<torch::Tensor> flat;
    for (const torch::Tensor& g : bucket) flat.push_back(g.reshape({-1}));
    torch::Tensor buffer = torch::cat(flat);
    LF_RETURN_IF_ERROR(collective.AllReduceSum(buffer));
    int64_t offset = 0;
    for (torch::Tensor& g : bucket) {
      g.copy_(buffer.narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
    bucket.clear();
    bytes = 0;
    return Status::Ok();
  };
  for (const torch::Tensor& p : params) {
    torch::Tensor g = p.grad();
    if (!g.defined()) continue;
    // One dtype and device per bucket, as the flat buffer needs.
    if (!bucket.empty() && (g.scalar_type() != bucket.front().scalar_type() ||
                            g.device() != bucket.front().device() ||
                            bytes + static_cast<int64_t>(g.nbytes()) > bucket_bytes)) {
      LF_RETURN_IF_ERROR(flush());
    }
    bucket.push_back(g);
    bytes += static_cast<int64_t>(g.nbytes());
  }
  return flush();
}

}  // namespace lf::worker
