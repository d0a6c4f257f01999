#include "worker/collective/nccl_collective.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>

namespace lf::worker {
namespace {

// NCCL and CUDA results with the file and line, as llm.c checks them.
#define LF_NCCL_RETURN_IF_ERROR(call)                                                       \
  do {                                                                                       \
    ncclResult_t lf_nccl_rc = (call);                                                        \
    if (lf_nccl_rc != ncclSuccess) {                                                         \
      return Internal(std::string(#call " failed at " __FILE__ ":") +                       \
                      std::to_string(__LINE__) + ": " + ncclGetErrorString(lf_nccl_rc));    \
    }                                                                                        \
  } while (0)
#define LF_CUDA_RETURN_IF_ERROR(call)                                                       \
  do {                                                                                       \
    cudaError_t lf_cuda_rc = (call);                                                         \
    if (lf_cuda_rc != cudaSuccess) {                                                         \
      return Internal(std::string(#call " failed at " __FILE__ ":") +                       \
                      std::to_string(__LINE__) + ": " + cudaGetErrorString(lf_cuda_rc));    \
    }                                                                                        \
  } while (0)

Result<ncclDataType_t> TypeOf(const torch::Tensor& t) {
  if (!t.is_cuda() || !t.is_contiguous()) {
    return InvalidArgument("NCCL collectives need contiguous CUDA tensors");
  }
  switch (t.scalar_type()) {
    case torch::kFloat32: return ncclFloat32;
    case torch::kFloat64: return ncclFloat64;
    case torch::kInt64: return ncclInt64;
    case torch::kFloat16: return ncclFloat16;
    case torch::kBFloat16: return ncclBfloat16;
    default:
      return InvalidArgument(std::string("NCCL collectives take float or int64 tensors, not ") +
                             c10::toString(t.scalar_type()));
  }
}

class NcclCollective final : public Collective {
 public:
  NcclCollective(ncclComm_t comm, int device, int rank, int size)
      : comm_(comm), device_(device), rank_(rank), size_(size) {}
  ~NcclCollective() override { ncclCommDestroy(comm_); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view backend() const override { return "nccl"; }

  Status AllReduceSum(torch::Tensor& tensor) override {
    LF_ASSIGN_OR_RETURN(ncclDataType_t type, TypeOf(tensor));
    LF_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    LF_NCCL_RETURN_IF_ERROR(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(),
                                          static_cast<size_t>(tensor.numel()), type, ncclSum,
                                          comm_, /*stream=*/nullptr));
    return Status::Ok();
  }

  Status Broadcast(torch::Tensor& tensor, int root) override {
    LF_ASSIGN_OR_RETURN(ncclDataType_t type, TypeOf(tensor));
    LF_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    LF_NCCL_RETURN_IF_ERROR(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(),
                                          static_cast<size_t>(tensor.numel()), type, root, comm_,
                                          /*stream=*/nullptr));
    return Status::Ok();
  }

 private:
  ncclComm_t comm_;
  int device_;
  int rank_;
  int size_;
};

}  // namespace

Result<std::string> NcclUniqueId() {
  ncclUniqueId id;
  LF_NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof(id.internal));
}

Result<std::unique_ptr<Collective>> CreateNcclCollective(const GangSpec& gang,
                                                         const torch::Device& device) {
  ncclUniqueId id;
  if (gang.nccl_id.size() != sizeof(id.internal)) {
    return InvalidArgument("an NCCL unique id has " + std::to_string(sizeof(id.internal)) +
                           " bytes, got " + std::to_string(gang.nccl_id.size()));
  }
  std::memcpy(id.internal, gang.nccl_id.data(), sizeof(id.internal));
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  auto me = std::find(gang.world_ranks.begin(), gang.world_ranks.end(), world_rank);
  if (me == gang.world_ranks.end()) {
    return InvalidArgument("MPI rank " + std::to_string(world_rank) +
                           " is not a member of the gang it was asked to join");
  }
  const int rank = static_cast<int>(me - gang.world_ranks.begin());
  const int size = static_cast<int>(gang.world_ranks.size());
  LF_CUDA_RETURN_IF_ERROR(cudaSetDevice(device.index()));
  ncclComm_t comm;
  LF_NCCL_RETURN_IF_ERROR(ncclCommInitRank(&comm, size, id, rank));
  return std::unique_ptr<Collective>(
      std::make_unique<NcclCollective>(comm, device.index(), rank, size));
}

}  // namespace lf::worker
