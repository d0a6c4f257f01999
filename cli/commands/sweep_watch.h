// `submit --wait`: follows a sweep until nothing more will run, drawing live progress (redrawn in
// place on a terminal, a line per change of trial state otherwise), then prints the comparison.
// Used by one thread; installs a SIGINT handler while it watches (Ctrl-C stops watching, not the
// sweep).
#pragma once

#include "cli/commands/remote.h"
#include "common/json_reader.h"

namespace lf::cli {

struct WatchOptions {
  bool json = false;  // no live output; print GET /v1/sweeps/{id}/compare's JSON at the end
};

// `submitted` is the reply to POST /v1/sweeps ({"sweep", "trials"}). Returns the exit code: 0
// when every trial completed, 1 otherwise (or when the coordinator stays unreachable), 130 when
// interrupted.
int WatchSweep(const Coordinator& remote, const Json& submitted, WatchOptions options);

// The text form of a GET /v1/sweeps/{id}/compare reply: a heading line, then the table.
void PrintComparison(const Json& reply);

}  // namespace lf::cli
