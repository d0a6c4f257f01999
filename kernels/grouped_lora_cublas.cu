// The segmented GEMM on tensor cores: cuBLAS's grouped GEMM (cublasGemmGroupedBatchedEx, cuBLAS
// >= 12.5) over half or bfloat16 operands with fp32 accumulation, one group per problem, in one
// call. cuBLAS is column-major: each row-major c = alpha * a @ b is computed as its transpose,
// c^T = alpha * b^T a^T, which reads every operand in place. What cuBLAS cannot take as it is goes
// to the SIMT kernel (grouped_lora_cuda.cu) in the same call. Tested against the CPU reference.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>

#include "kernels/grouped_lora_cuda.cuh"

namespace lf::kernels::cuda {
namespace {

std::string Where(int line) {
  return "grouped GEMM at kernels/grouped_lora_cublas.cu:" + std::to_string(line) + ": ";
}

// Handles by device, shared by the process: a call takes one and gives it back, so concurrent
// callers never share one, and threads that come and go leave no handle (and workspace) behind.
class HandlePool {
 public:
  std::string Take(int device, cublasHandle_t* handle) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (static_cast<size_t>(device) < free_.size() && !free_[device].empty()) {
        *handle = free_[device].back();
        free_[device].pop_back();
        return "";
      }
    }
    const cublasStatus_t s = cublasCreate(handle);
    if (s != CUBLAS_STATUS_SUCCESS) {
      return Where(__LINE__) + "cublasCreate: " + cublasGetStatusString(s);
    }
    return "";
  }
  void Give(int device, cublasHandle_t handle) {
    std::lock_guard<std::mutex> lock(mu_);
    if (static_cast<size_t>(device) >= free_.size()) free_.resize(device + 1);
    free_[device].push_back(handle);
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<cublasHandle_t>> free_;
};

// The grouped GEMM as the loaded libcublas has it: looked up rather than linked, since the
// process may run with an older libcublas than the toolkit this was built with (a LibTorch that
// ships cuBLAS 12.4 puts its own first); without it every product goes to the SIMT kernel.
using GroupedGemmFn = decltype(&cublasGemmGroupedBatchedEx);
GroupedGemmFn LoadedGroupedGemm() {
  static const GroupedGemmFn fn =
      reinterpret_cast<GroupedGemmFn>(dlsym(RTLD_DEFAULT, "cublasGemmGroupedBatchedEx"));
  return fn;
}

HandlePool& Handles() {
  static HandlePool* pool = new HandlePool();  // never destroyed: the CUDA context may go first
  return *pool;
}

// How cuBLAS reads a row-major x [rows, cols] (element strides rs, cs) as a column-major operand
// whose op() is x^T [cols, rows]: x^T itself when rows are contiguous, x transposed when columns
// are. False when neither (a zero stride, or overlapping rows), or a size exceeds an int.
struct Operand {
  cublasOperation_t op;
  int ld;
};
bool AsTransposed(int64_t rows, int64_t cols, int64_t rs, int64_t cs, Operand* out) {
  int64_t ld = -1;
  if ((cols == 1 || cs == 1) && (rows == 1 || rs >= cols)) {
    out->op = CUBLAS_OP_N;
    ld = rows == 1 ? cols : rs;
  } else if ((rows == 1 || rs == 1) && (cols == 1 || cs >= rows)) {
    out->op = CUBLAS_OP_T;
    ld = cols == 1 ? rows : cs;
  }
  if (ld < 1 || ld > INT_MAX) return false;
  out->ld = static_cast<int>(ld);
  return true;
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// The problem as cuBLAS's (m, n, k) = (problem's n, m, k) with "A" = b^T and "B" = a^T.
struct BlasProblem {
  Operand b, a;
  int m, n, k, ldc;
};
bool ForCublas(const GemmProblem& p, BlasProblem* out) {
  if (p.m <= 0 || p.n <= 0 || p.k <= 0) return false;  // k == 0 writes zeros: the SIMT kernel
  if (p.m > INT_MAX || p.n > INT_MAX || p.k > INT_MAX) return false;
  // Ideally 16-byte aligned, says cuBLAS; less may fault for some k, so such problems go SIMT.
  if (!Aligned16(p.a) || !Aligned16(p.b) || !Aligned16(p.c)) return false;
  if (!AsTransposed(p.k, p.n, p.b_row_stride, p.b_col_stride, &out->b)) return false;
  if (!AsTransposed(p.m, p.k, p.a_row_stride, p.a_col_stride, &out->a)) return false;
  const int64_t ldc = p.m == 1 ? p.n : p.ldc;
  if (ldc < p.n || ldc > INT_MAX) return false;
  out->m = static_cast<int>(p.n);
  out->n = static_cast<int>(p.m);
  out->k = static_cast<int>(p.k);
  out->ldc = static_cast<int>(ldc);
  return true;
}

std::string CudaError(cudaError_t e, int line) { return Where(line) + cudaGetErrorString(e); }

std::string RunCublas(const std::vector<GemmProblem>& problems,
                      const std::vector<BlasProblem>& blas, cudaDataType_t type) {
  const size_t count = problems.size();
  std::vector<cublasOperation_t> trans_a, trans_b;
  std::vector<int> m, n, k, lda, ldb, ldc, group_size(count, 1);
  std::vector<float> alpha, beta(count, 0.0f);
  std::vector<const void*> pointers;  // the b's, then the a's, then the c's
  pointers.reserve(3 * count);
  for (size_t i = 0; i < count; ++i) {
    const BlasProblem& q = blas[i];
    trans_a.push_back(q.b.op);
    trans_b.push_back(q.a.op);
    m.push_back(q.m);
    n.push_back(q.n);
    k.push_back(q.k);
    lda.push_back(q.b.ld);
    ldb.push_back(q.a.ld);
    ldc.push_back(q.ldc);
    alpha.push_back(problems[i].alpha);
    pointers.push_back(problems[i].b);
  }
  for (const GemmProblem& p : problems) pointers.push_back(p.a);
  for (const GemmProblem& p : problems) pointers.push_back(p.c);

  // cuBLAS reads the pointer arrays from device memory: a stream-ordered buffer, freed after the
  // GEMM on the same stream. (A copy from pageable memory has left the vector when it returns.)
  const cudaStream_t stream =
      nullptr;  // the default stream, as LibTorch's work and the SIMT kernel
  void* device_pointers = nullptr;
  const size_t bytes = pointers.size() * sizeof(void*);
  if (cudaError_t e = cudaMallocAsync(&device_pointers, bytes, stream); e != cudaSuccess) {
    return CudaError(e, __LINE__);
  }
  std::string error;
  if (cudaError_t e =
          cudaMemcpyAsync(device_pointers, pointers.data(), bytes, cudaMemcpyHostToDevice, stream);
      e != cudaSuccess) {
    error = CudaError(e, __LINE__);
  }
  int device = 0;
  cublasHandle_t handle = nullptr;
  if (error.empty()) {
    if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) error = CudaError(e, __LINE__);
  }
  if (error.empty()) error = Handles().Take(device, &handle);
  if (error.empty()) {
    auto* const* all = static_cast<void* const*>(device_pointers);
    cublasStatus_t s = cublasSetStream(handle, stream);
    if (s == CUBLAS_STATUS_SUCCESS) {
      s = LoadedGroupedGemm()(
          handle, trans_a.data(), trans_b.data(), m.data(), n.data(), k.data(), alpha.data(), all,
          type, lda.data(), all + count, type, ldb.data(), beta.data(), all + 2 * count, type,
          ldc.data(), static_cast<int>(count), group_size.data(), CUBLAS_COMPUTE_32F);
    }
    if (s != CUBLAS_STATUS_SUCCESS) {
      error = Where(__LINE__) + "cublasGemmGroupedBatchedEx: " + cublasGetStatusString(s);
    }
    Handles().Give(device, handle);
  }
  if (cudaError_t e = cudaFreeAsync(device_pointers, stream); e != cudaSuccess && error.empty()) {
    error = CudaError(e, __LINE__);
  }
  return error;
}

}  // namespace

bool TensorCoreGemmLoaded() { return LoadedGroupedGemm() != nullptr; }

std::string GroupedGemmTensorCores(const std::vector<GemmProblem>& problems, GemmDtype dtype) {
  if (dtype == GemmDtype::kFloat32 || !TensorCoreGemmLoaded()) return GroupedGemm(problems, dtype);
  std::vector<GemmProblem> blas_problems, simt_problems;
  std::vector<BlasProblem> blas;
  for (const GemmProblem& p : problems) {
    BlasProblem q;
    if (ForCublas(p, &q)) {
      blas_problems.push_back(p);
      blas.push_back(q);
    } else if (p.m > 0 && p.n > 0) {
      simt_problems.push_back(p);
    }
  }
  if (!blas_problems.empty()) {
    const cudaDataType_t type = dtype == GemmDtype::kFloat16 ? CUDA_R_16F : CUDA_R_16BF;
    std::string error = RunCublas(blas_problems, blas, type);
    if (!error.empty()) return error;
  }
  return simt_problems.empty() ? "" : GroupedGemm(simt_problems, dtype);
}

}  // namespace lf::kernels::cuda
