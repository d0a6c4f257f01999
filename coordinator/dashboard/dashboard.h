// The web dashboard: a single page (queue, workers, sweeps, a sweep's comparison, a trial with its
// live loss curve, the adapter registry) that the coordinator serves at / with every asset it
// needs, so it works with no internet access. The page only reads the JSON API; it draws its
// charts itself (SVG). Stateless: thread-safe.
#pragma once

#include "coordinator/api/router.h"

namespace lf::dashboard {

// GET / (the page) and GET /dashboard/{file} (its scripts and style sheet). The server admits
// them as the API's reads (api::Admit): open on loopback, elsewhere with --open-reads or a token.
void AddDashboardRoutes(api::Router& router);

}  // namespace lf::dashboard
