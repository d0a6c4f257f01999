#include "worker/collective/mpi_collective.h"

#include <mpi.h>

#include <algorithm>
#include <mutex>

#include "worker/collective/gang_wait.h"

namespace lf::worker {
namespace {

std::string MpiError(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<size_t>(length));
}

// Waits for `requests` to complete, polling `abandon` between tests (gang_wait.h: spinning for
// the first 2 ms, then sleeping 200 us between tests). False: abandoned.
bool WaitAll(std::vector<MPI_Request>& requests, const std::function<bool()>& abandon) {
  Result<GangWaitEnd> end = WaitForGang(
      [&]() -> Result<bool> {
        int done = 0;
        MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done,
                    MPI_STATUSES_IGNORE);
        return done != 0;
      },
      abandon);
  LF_CHECK_MSG(end.ok(), "an MPI test cannot fail: " + end.status().ToString());
  return *end == GangWaitEnd::kDone;
}

// Buffers of collectives given up on: MPI may still write into them when the missing members
// arrive, so they live as long as the process. (Their requests are left alone: MPI forbids
// freeing or cancelling a non-blocking collective's.)
std::mutex orphans_mu;
std::vector<torch::Tensor>* orphaned_buffers = new std::vector<torch::Tensor>();

class MpiCollective final : public Collective {
 public:
  MpiCollective(MPI_Comm comm, int rank, int size, std::function<bool()> abandon)
      : comm_(comm), rank_(rank), size_(size), abandon_(std::move(abandon)) {}
  // A broken communicator has an operation some member never joined: freeing it could wait for
  // that member forever, so it is left to the end of the process.
  ~MpiCollective() override {
    if (!broken_) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view backend() const override { return "mpi"; }

  Status AllReduceSum(torch::Tensor& tensor) override {
    LF_ASSIGN_OR_RETURN(MPI_Datatype type, TypeOf(tensor));
    torch::Tensor host = tensor.is_cuda() ? tensor.cpu() : tensor;
    return Run("MPI_Iallreduce", host, tensor, [&](MPI_Request* request) {
      return MPI_Iallreduce(MPI_IN_PLACE, host.data_ptr(), static_cast<int>(host.numel()), type,
                            MPI_SUM, comm_, request);
    });
  }

  Status Broadcast(torch::Tensor& tensor, int root) override {
    LF_ASSIGN_OR_RETURN(MPI_Datatype type, TypeOf(tensor));
    if (root < 0 || root >= size_) {
      return InvalidArgument("broadcast root " + std::to_string(root) + " is not a rank of this " +
                             std::to_string(size_) + "-member gang");
    }
    torch::Tensor host = tensor.is_cuda() ? tensor.cpu() : tensor;
    return Run("MPI_Ibcast", host, tensor, [&](MPI_Request* request) {
      return MPI_Ibcast(host.data_ptr(), static_cast<int>(host.numel()), type, root, comm_,
                        request);
    });
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

  // Starts a non-blocking collective on `host` (the tensor, or its host copy) and waits for it;
  // a CUDA `tensor` gets the result back.
  template <typename Start>
  Status Run(const char* what, const torch::Tensor& host, torch::Tensor& tensor, Start start) {
    if (broken_) {
      return Unavailable(
          "the gang's communicator was abandoned (a member stopped answering); "
          "the gang must be formed again");
    }
    MPI_Request request = MPI_REQUEST_NULL;
    const int rc = start(&request);
    if (rc != MPI_SUCCESS) return Internal(std::string(what) + " in the gang: " + MpiError(rc));
    std::vector<MPI_Request> requests = {request};
    if (!WaitAll(requests, abandon_)) {
      broken_ = true;
      std::lock_guard<std::mutex> lock(orphans_mu);
      orphaned_buffers->push_back(host);
      return Unavailable(std::string(what) + " abandoned: a member of the " +
                         std::to_string(size_) + "-rank gang did not take part (lost or stopped)");
    }
    if (tensor.is_cuda()) tensor.copy_(host);
    return Status::Ok();
  }

  MPI_Comm comm_;
  int rank_;
  int size_;
  std::function<bool()> abandon_;
  bool broken_ = false;
};

// Before MPI_Comm_create_group, which waits for every member and cannot be abandoned, the
// members check in with the first one over point-to-point messages that can: each sends it one
// int and waits for its go, which it sends once all have checked in. The messages carry the
// gang's tag (nothing else sends point-to-point on MPI_COMM_WORLD), so a late message of an
// abandoned attempt never matches a later gang's.
Status CheckIn(const std::vector<int>& ranks, size_t me, int tag,
               const std::function<bool()>& abandon) {
  const int mpi_tag = tag;
  int out = 1;
  std::vector<int> in(ranks.size(), 0);
  std::vector<MPI_Request> receives;
  if (me == 0) {
    for (size_t i = 1; i < ranks.size(); ++i) {
      receives.emplace_back();
      MPI_Irecv(&in[i], 1, MPI_INT, ranks[i], mpi_tag, MPI_COMM_WORLD, &receives.back());
    }
  } else {
    receives.emplace_back();
    MPI_Irecv(&in[0], 1, MPI_INT, ranks[0], mpi_tag, MPI_COMM_WORLD, &receives.back());
    // One int goes eagerly: the send completes at once whether or not the first member listens.
    MPI_Send(&out, 1, MPI_INT, ranks[0], mpi_tag, MPI_COMM_WORLD);
  }
  if (!WaitAll(receives, abandon)) {
    for (MPI_Request& r : receives) {
      if (r == MPI_REQUEST_NULL) continue;
      MPI_Cancel(&r);
      MPI_Wait(&r, MPI_STATUS_IGNORE);
    }
    return Unavailable("forming the gang of MPI ranks " + std::to_string(ranks.front()) + ".." +
                       std::to_string(ranks.back()) +
                       " abandoned: not every member checked in (lost or stopped)");
  }
  if (me == 0) {
    for (size_t i = 1; i < ranks.size(); ++i) {
      MPI_Send(&out, 1, MPI_INT, ranks[i], mpi_tag, MPI_COMM_WORLD);
    }
  }
  return Status::Ok();
}

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
  if (gang.tag < 0 || gang.tag > 32767) {  // the tags every MPI must take (MPI_TAG_UB >= 32767)
    return InvalidArgument("a gang's tag must be from 0 to 32767, got " + std::to_string(gang.tag));
  }
  const size_t index = static_cast<size_t>(me - ranks.begin());
  LF_RETURN_IF_ERROR(CheckIn(ranks, index, gang.tag, gang.abandon));
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
      comm, static_cast<int>(index), static_cast<int>(ranks.size()), gang.abandon));
}

}  // namespace lf::worker
