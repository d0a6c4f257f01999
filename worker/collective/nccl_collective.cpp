#include "worker/collective/nccl_collective.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <mutex>

#include "common/logging.h"
#include "worker/collective/gang_wait.h"
#include "worker/collective/mpi_collective.h"

namespace lf::worker {
namespace {

// NCCL and CUDA results with the file and line, as llm.c checks them.
#define LF_NCCL_RETURN_IF_ERROR(call)                                                            \
  do {                                                                                           \
    ncclResult_t lf_nccl_rc = (call);                                                            \
    if (lf_nccl_rc != ncclSuccess) {                                                             \
      return Internal(std::string(#call " failed at " __FILE__ ":") + std::to_string(__LINE__) + \
                      ": " + ncclGetErrorString(lf_nccl_rc));                                    \
    }                                                                                            \
  } while (0)
#define LF_CUDA_RETURN_IF_ERROR(call)                                                            \
  do {                                                                                           \
    cudaError_t lf_cuda_rc = (call);                                                             \
    if (lf_cuda_rc != cudaSuccess) {                                                             \
      return Internal(std::string(#call " failed at " __FILE__ ":") + std::to_string(__LINE__) + \
                      ": " + cudaGetErrorString(lf_cuda_rc));                                    \
    }                                                                                            \
  } while (0)

// A failed NCCL call or state: a peer that went away (remote or system error) is Unavailable, as
// an abandoned member is, so the trial is retried; anything else is Internal.
Status NcclFailure(const std::string& what, ncclResult_t rc, ncclComm_t comm, int line) {
  std::string text =
      what + " failed at " __FILE__ ":" + std::to_string(line) + ": " + ncclGetErrorString(rc);
  const char* detail = comm != nullptr ? ncclGetLastError(comm) : nullptr;
  if (detail != nullptr && *detail != '\0') text += std::string(" (") + detail + ")";
  return rc == ncclRemoteError || rc == ncclSystemError ? Unavailable(text) : Internal(text);
}

// A non-blocking communicator's last call (init, or enqueueing a collective) is done: false while
// NCCL still works on it in the background.
Result<bool> CallDone(const std::string& what, ncclComm_t comm) {
  ncclResult_t state = ncclSuccess;
  const ncclResult_t rc = ncclCommGetAsyncError(comm, &state);
  if (rc != ncclSuccess) return NcclFailure("ncclCommGetAsyncError", rc, comm, __LINE__);
  if (state == ncclInProgress) return false;
  if (state != ncclSuccess) return NcclFailure(what, state, comm, __LINE__);
  return true;
}

// Buffers of collectives given up on: kept for the life of the process, as MPI's are, in case a
// kernel of the aborted communicator still touches them.
std::mutex orphans_mu;
std::vector<torch::Tensor>* orphaned_buffers = new std::vector<torch::Tensor>();

// Waits for `poll` (gang_wait.h). On abandon or failure aborts `comm` (nothing waits on it from
// then on) and returns why, naming `what` and the gang's size.
Status WaitOrAbort(const std::string& what, int size, ncclComm_t comm,
                   const std::function<Result<bool>()>& poll,
                   const std::function<bool()>& abandon) {
  Result<GangWaitEnd> end = WaitForGang(poll, abandon);
  if (end.ok() && *end == GangWaitEnd::kDone) return Status::Ok();
  const ncclResult_t abort_rc = ncclCommAbort(comm);
  if (abort_rc != ncclSuccess) {
    LF_LOG_WARN("ncclCommAbort after {}: {}", what, ncclGetErrorString(abort_rc));
  }
  if (!end.ok()) {
    return Status(end.status().code(), end.status().message() + "; the " + std::to_string(size) +
                                           "-rank gang's NCCL communicator was aborted");
  }
  return Unavailable(what + " abandoned: a member of the " + std::to_string(size) +
                     "-rank gang did not take part (lost or stopped); its NCCL communicator "
                     "was aborted");
}

Result<ncclDataType_t> TypeOf(const torch::Tensor& t, int device) {
  if (!t.is_cuda() || !t.is_contiguous()) {
    return InvalidArgument("NCCL collectives need contiguous CUDA tensors");
  }
  if (t.device().index() != device) {
    return InvalidArgument(
        "a tensor on cuda:" + std::to_string(t.device().index()) +
        " given to the gang's NCCL communicator on cuda:" + std::to_string(device));
  }
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kInt64:
      return ncclInt64;
    case torch::kFloat16:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    default:
      return InvalidArgument(std::string("NCCL collectives take float or int64 tensors, not ") +
                             c10::toString(t.scalar_type()));
  }
}

constexpr int kFinalizeSeconds = 10;

class NcclCollective final : public Collective {
 public:
  NcclCollective(ncclComm_t comm, cudaEvent_t done, int device, int rank, int size,
                 std::function<bool()> abandon, std::unique_ptr<Collective> control)
      : comm_(comm),
        done_(done),
        device_(device),
        rank_(rank),
        size_(size),
        abandon_(std::move(abandon)),
        control_(std::move(control)) {}
  // An aborted communicator is already freed. A healthy one is finalized (NCCL flushes it, and
  // a non-blocking communicator must be quiescent before ncclCommDestroy), polled for at most
  // kFinalizeSeconds: one that does not quiesce by then (a peer gone since the last collective)
  // is aborted rather than waited on.
  ~NcclCollective() override {
    cudaEventDestroy(done_);
    if (aborted_) return;
    cudaSetDevice(device_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kFinalizeSeconds);
    const ncclResult_t rc = ncclCommFinalize(comm_);
    Result<GangWaitEnd> end =
        rc == ncclSuccess || rc == ncclInProgress
            ? WaitForGang([comm = comm_] { return CallDone("ncclCommFinalize", comm); },
                          [deadline] { return std::chrono::steady_clock::now() > deadline; })
            : Result<GangWaitEnd>(NcclFailure("ncclCommFinalize", rc, comm_, __LINE__));
    if (end.ok() && *end == GangWaitEnd::kDone) {
      ncclCommDestroy(comm_);
      return;
    }
    LF_LOG_WARN("the gang's NCCL communicator did not finalize ({}); aborting it",
                end.ok() ? "timed out" : end.status().ToString());
    ncclCommAbort(comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view backend() const override { return "nccl"; }

  Status AllReduceSum(torch::Tensor& tensor) override {
    if (!tensor.is_cuda()) return Control([&] { return control_->AllReduceSum(tensor); });
    LF_ASSIGN_OR_RETURN(ncclDataType_t type, TypeOf(tensor, device_));
    return Run("ncclAllReduce", tensor, [&] {
      return ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(),
                           static_cast<size_t>(tensor.numel()), type, ncclSum, comm_,
                           /*stream=*/nullptr);
    });
  }

  Status Broadcast(torch::Tensor& tensor, int root) override {
    if (!tensor.is_cuda()) {
      return Control([&] { return control_->Broadcast(tensor, root); });
    }
    LF_ASSIGN_OR_RETURN(ncclDataType_t type, TypeOf(tensor, device_));
    if (root < 0 || root >= size_) {
      return InvalidArgument("broadcast root " + std::to_string(root) + " is not a rank of this " +
                             std::to_string(size_) + "-member gang");
    }
    return Run("ncclBroadcast", tensor, [&] {
      return ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(),
                           static_cast<size_t>(tensor.numel()), type, root, comm_,
                           /*stream=*/nullptr);
    });
  }

 private:
  // A CPU tensor (the trainer's stop flags, token counts and loss) over the gang's MPI
  // communicator, as on a CPU gang, without touching the GPU. A member abandoned there is
  // abandoned here too: the NCCL communicator is aborted, as nothing will use it again.
  template <typename Call>
  Status Control(Call call) {
    if (control_ == nullptr) {
      return InvalidArgument(
          "NCCL collectives need contiguous CUDA tensors, and this "
          "communicator has no MPI one for CPU tensors");
    }
    if (aborted_) return Refused();
    Status st = call();
    if (!st.ok() && st.code() != StatusCode::kInvalidArgument) {
      const ncclResult_t rc = ncclCommAbort(comm_);
      if (rc != ncclSuccess) LF_LOG_WARN("ncclCommAbort: {}", ncclGetErrorString(rc));
      aborted_ = true;
    }
    return st;
  }

  static Status Refused() {
    return Unavailable(
        "the gang's NCCL communicator was aborted (a member stopped answering); "
        "the gang must be formed again");
  }

  // Enqueues a collective on the default stream and waits until it has run: first until NCCL has
  // enqueued it (a non-blocking call may connect to peers in the background), then until the
  // event after it completes, watching NCCL's async error meanwhile.
  template <typename Enqueue>
  Status Run(const std::string& what, const torch::Tensor& tensor, Enqueue enqueue) {
    if (aborted_) return Refused();
    LF_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
    const ncclResult_t rc = enqueue();
    Status st = rc == ncclSuccess || rc == ncclInProgress
                    ? WaitOrAbort(
                          what, size_, comm_, [&] { return CallDone(what, comm_); }, abandon_)
                    : Abort(NcclFailure(what, rc, comm_, __LINE__));
    if (st.ok()) {
      if (const cudaError_t e = cudaEventRecord(done_, /*stream=*/nullptr); e != cudaSuccess) {
        st = Abort(Internal("cudaEventRecord after " + what + " failed at " __FILE__ ":" +
                            std::to_string(__LINE__) + ": " + cudaGetErrorString(e)));
      } else {
        st = WaitOrAbort(
            what, size_, comm_, [&] { return KernelDone(what); }, abandon_);
      }
    }
    if (!st.ok()) {  // the communicator is aborted: nothing may use it, nor free the tensor yet
      aborted_ = true;
      std::lock_guard<std::mutex> lock(orphans_mu);
      orphaned_buffers->push_back(tensor);
    }
    return st;
  }

  Result<bool> KernelDone(const std::string& what) {
    const cudaError_t e = cudaEventQuery(done_);
    if (e == cudaSuccess) return true;
    if (e != cudaErrorNotReady) {
      return Internal(what + " on cuda:" + std::to_string(device_) + " failed at " __FILE__ ":" +
                      std::to_string(__LINE__) + ": " + cudaGetErrorString(e));
    }
    LF_ASSIGN_OR_RETURN(bool enqueued, CallDone(what, comm_));  // surfaces a peer's failure
    (void)enqueued;
    return false;
  }

  // A call that failed outright: the communicator is unusable from then on.
  Status Abort(Status why) {
    ncclCommAbort(comm_);
    return why;
  }

  ncclComm_t comm_;
  cudaEvent_t done_;
  int device_;
  int rank_;
  int size_;
  std::function<bool()> abandon_;
  std::unique_ptr<Collective> control_;  // MPI, for CPU tensors; null: refused
  bool aborted_ = false;
};

}  // namespace

Result<std::string> NewNcclUniqueId() {
  ncclUniqueId id;
  LF_NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof(id.internal));
}

Result<std::unique_ptr<Collective>> JoinNcclCommunicator(const std::string& id_bytes, int rank,
                                                         int size, int device,
                                                         std::function<bool()> abandon,
                                                         std::unique_ptr<Collective> control) {
  ncclUniqueId id;
  if (id_bytes.size() != sizeof(id.internal)) {
    return InvalidArgument("an NCCL unique id has " + std::to_string(sizeof(id.internal)) +
                           " bytes, got " + std::to_string(id_bytes.size()));
  }
  std::memcpy(id.internal, id_bytes.data(), sizeof(id.internal));
  LF_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  cudaEvent_t done = nullptr;
  LF_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
  // Non-blocking: init and collectives return at once and are polled, so that a member that never
  // comes can be abandoned (as ProcessGroupNCCL does with TORCH_NCCL_USE_COMM_NONBLOCKING).
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  const ncclResult_t rc = ncclCommInitRankConfig(&comm, size, id, rank, &config);
  const std::string what = "forming the NCCL communicator (rank " + std::to_string(rank) + " of " +
                           std::to_string(size) + " on cuda:" + std::to_string(device) + ")";
  Status st;
  if (rc != ncclSuccess && rc != ncclInProgress) {
    st = NcclFailure(what, rc, comm, __LINE__);
    if (comm != nullptr) ncclCommAbort(comm);
  } else {
    st = WaitOrAbort(
        what, size, comm, [&] { return CallDone(what, comm); }, abandon);
  }
  if (!st.ok()) {
    cudaEventDestroy(done);
    return st;
  }
  return std::unique_ptr<Collective>(std::make_unique<NcclCollective>(
      comm, done, device, rank, size, std::move(abandon), std::move(control)));
}

Result<std::unique_ptr<Collective>> CreateNcclCollective(const GangSpec& gang,
                                                         const torch::Device& device) {
  // MPI forms the gang (checking its members, waiting for them as abandon allows), carries rank
  // 0's unique id to the others and, after, the CPU tensors; NCCL carries the CUDA tensors.
  LF_ASSIGN_OR_RETURN(std::unique_ptr<Collective> control, CreateMpiCollective(gang));
  ncclUniqueId id;
  static_assert(sizeof(id.internal) % sizeof(int64_t) == 0, "the id travels as int64 words");
  torch::Tensor words =
      torch::zeros({static_cast<int64_t>(sizeof(id.internal) / sizeof(int64_t))}, torch::kInt64);
  if (control->rank() == 0) {
    LF_ASSIGN_OR_RETURN(std::string fresh, NewNcclUniqueId());
    std::memcpy(words.data_ptr(), fresh.data(), fresh.size());
  }
  LF_RETURN_IF_ERROR(control->Broadcast(words, /*root=*/0));
  const std::string id_bytes(static_cast<const char*>(words.data_ptr()), sizeof(id.internal));
  int index = device.has_index() ? device.index() : -1;
  if (index < 0) LF_CUDA_RETURN_IF_ERROR(cudaGetDevice(&index));
  const int rank = control->rank();
  const int size = control->size();
  return JoinNcclCommunicator(id_bytes, rank, size, index, gang.abandon, std::move(control));
}

}  // namespace lf::worker
