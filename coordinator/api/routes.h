// The versioned JSON API (/v1/...) over a Coordinator: one handler per route, each translating
// between HTTP and a Coordinator call. The routes and their JSON are documented in docs/api.md.
// Handlers call the Coordinator directly, so the io_context that runs the server must be the
// (single) thread that owns the Coordinator.
#pragma once

#include <functional>

#include "coordinator/api/access.h"
#include "coordinator/api/router.h"
#include "coordinator/coordinator.h"

namespace lf::api {

// Adds every /v1 route and /metrics to `router`; `coordinator` must outlive the server using the
// router. Who may call them is decided before: the HTTP server admits each request by its header
// (api::Admit) and sets request.user, from which handlers take the audit log's actor and the
// sweep's owner. `after_request` runs after each handler (the daemon re-checks the worker socket).
void AddApiRoutes(Router& router, coordinator::Coordinator& coordinator,
                  std::function<void()> after_request = {});

}  // namespace lf::api
