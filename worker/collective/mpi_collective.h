// The MPI implementation of Collective: a communicator over the gang's MPI_COMM_WORLD ranks made
// with MPI_Comm_create_group, so only the members take part and gangs form independently.
// Collectives are non-blocking ones waited on with MPI_Test, so that GangSpec::abandon can end a
// wait for a member that is gone. Use CreateCollective (collective.h) rather than this directly.
#pragma once

#include "worker/collective/collective.h"

namespace lf::worker {

Result<std::unique_ptr<Collective>> CreateMpiCollective(const GangSpec& gang);

}  // namespace lf::worker
