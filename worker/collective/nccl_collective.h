// The NCCL implementation of Collective, for gangs whose tensors are on CUDA devices: one NCCL
// communicator per gang from the unique id its first member made. Collectives run on the default
// stream, in order with LibTorch's work there. Built only with LF_WITH_NCCL; use CreateCollective
// (collective.h) rather than this directly.
#pragma once

#include "worker/collective/collective.h"

namespace lf::worker {

Result<std::unique_ptr<Collective>> CreateNcclCollective(const GangSpec& gang,
                                                         const torch::Device& device);
Result<std::string> NcclUniqueId();

}  // namespace lf::worker
