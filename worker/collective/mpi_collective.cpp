#include "worker/collective/mpi_collective.h"

#include <mpi.h>

#include <algorithm>

namespace lf::worker {
namespace {

std::string MpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

class MpiCollective final : public Collective {
 public:
  MpiCollective(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  ~MpiCollective() override { MPI_Comm_free(&comm_); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view backend() const override { return "mpi"; }

  Status AllReduceSum(torch::Tensor& tensor) override {
    LF_ASSIGN_OR_RETURN(MPI_Datatype type, TypeOf(tensor));
    torch::Tensor host = tensor.is_cuda() ? tensor.cpu() : tensor;
    const int rc = MPI_Allreduce(MPI_IN_PLACE, host.data_ptr(), static_cast<int>(host.numel()),
                                 type, MPI_SUM, comm_);
    if (rc != MPI_SUCCESS) return Internal("MPI_Allreduce in the gang: " + MpiError(rc));
    if (tensor.is_cuda()) tensor.copy_(host);
    return Status::Ok();
  }

  Status Broadcast(torch::Tensor& tensor, int root) override {
    LF_ASSIGN_OR_RETURN(MPI_Datatype type, TypeOf(tensor));
    if (root < 0 || root >= size_) {
      return InvalidArgument("broadcast root " + std::to_string(root) + " is not a rank of this " +
                             std::to_string(size_) + "-member gang");
    }
    torch::Tensor host = tensor.is_cuda() ? tensor.cpu() : tensor;
    const int rc = MPI_Bcast(host.data_ptr(), static_cast<int>(host.numel()), type, root, comm_);
    if (rc != MPI_SUCCESS) return Internal("MPI_Bcast in the gang: " + MpiError(rc));
    if (tensor.is_cuda()) tensor.copy_(host);
    return Status::Ok();
  }

 private:
  static Result<MPI_Datatype> TypeOf(const torch::Tensor& t) {
    if (!t.is_contiguous()) return InvalidArgument("collectives need contiguous tensors");
    if (t.numel() > INT32_MAX) return InvalidArgument("a tensor over 2^31 elements: bucket it");
    switch (t.scalar_type()) {
      case torch::kFloat32: return MPI_FLOAT;
      case torch::kFloat64: return MPI_DOUBLE;
      case torch::kInt64: return MPI_INT64_T;
      default:
        return InvalidArgument(std::string("MPI collectives take float32, float64 or int64 "
                                           "tensors, not ") + c10::toString(t.scalar_type()));
    }
  }

  MPI_Comm comm_;
  int rank_;
  int size_;
};

}  // namespace

Result<std::unique_ptr<Collective>> CreateMpiCollective(const GangSpec& gang) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    return FailedPrecondition("a gang needs MPI, which this process has not initialised (run the "
                              "worker under mpirun or srun)");
  }
  int world_rank = 0, world_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  const std::vector<int>& ranks = gang.world_ranks;
  if (ranks.empty() || !std::is_sorted(ranks.begin(), ranks.end()) ||
      std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end() || ranks.front() < 0 ||
      ranks.back() >= world_size) {
    return InvalidArgument("a gang's members must be distinct MPI ranks in ascending order, each "
                           "below the world size " + std::to_string(world_size));
  }
  auto me = std::find(ranks.begin(), ranks.end(), world_rank);
  if (me == ranks.end()) {
    return InvalidArgument("MPI rank " + std::to_string(world_rank) +
                           " is not a member of the gang it was asked to join");
  }
  MPI_Group world_group, gang_group;
  MPI_Comm_group(MPI_COMM_WORLD, &world_group);
  MPI_Group_incl(world_group, static_cast<int>(ranks.size()), ranks.data(), &gang_group);
  MPI_Comm comm = MPI_COMM_NULL;
  const int rc = MPI_Comm_create_group(MPI_COMM_WORLD, gang_group, gang.tag, &comm);
  MPI_Group_free(&gang_group);
  MPI_Group_free(&world_group);
  if (rc != MPI_SUCCESS || comm == MPI_COMM_NULL) {
    return Internal("creating the gang's MPI communicator: " + MpiError(rc));
  }
  // Errors come back as codes (and then a Status), instead of aborting every rank.
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  return std::unique_ptr<Collective>(std::make_unique<MpiCollective>(
      comm, static_cast<int>(me - ranks.begin()), static_cast<int>(ranks.size())));
}

}  // namespace lf::worker
