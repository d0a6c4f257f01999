#include "worker/collective/collective.h"

#include "worker/collective/mpi_collective.h"
#ifdef LF_WITH_NCCL
#include "worker/collective/nccl_collective.h"
#endif

namespace lf::worker {

// The factory: the only place that knows which implementations the build has.
Result<std::unique_ptr<Collective>> CreateCollective(const GangSpec& gang,
                                                     const torch::Device& device) {
  if (device.is_cuda() && !gang.nccl_id.empty()) {
#ifdef LF_WITH_NCCL
    return CreateNcclCollective(gang, device);
#else
    return FailedPrecondition("this build has no NCCL, so a CUDA gang cannot use it; build with "
                              "NCCL (found next to CUDA) or run the gang's collectives over MPI");
#endif
  }
  return CreateMpiCollective(gang);
}

Result<std::string> NewNcclUniqueId() {
#ifdef LF_WITH_NCCL
  return NcclUniqueId();
#else
  return Unimplemented("this build has no NCCL (it is found next to CUDA at configure time)");
#endif
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
