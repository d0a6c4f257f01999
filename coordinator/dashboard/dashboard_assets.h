// The dashboard's files (HTML, CSS, JavaScript), compiled into the daemon from
// coordinator/dashboard/assets/ by embed_assets.cmake. Immutable after static initialisation:
// thread-safe.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

namespace lf::dashboard {

// (file name, its bytes), in the order CMake lists them.
const std::vector<std::pair<std::string_view, std::string_view>>& EmbeddedAssets();

}  // namespace lf::dashboard
