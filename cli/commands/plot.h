// `lorafleet compare --plot`: eval loss against one swept key, one line per combination of the
// other swept keys, drawn as SVG by hand (no plotting library). Pure: rows in, SVG text out.
#pragma once

#include <optional>
#include <string>

#include "common/json_reader.h"
#include "common/status.h"

namespace lf::cli {

struct PlotOptions {
  // The swept key on the x axis ("lora.r"); empty: the first swept key with numeric values, in
  // key order. Keys spanning more than a factor of 10 use a log scale.
  std::string x;
  std::string title;
};

// `rows` as GET /v1/sweeps/{id}/compare returns them; only completed trials with an eval loss
// are drawn. An error when no swept key has numbers to put on the x axis, or no trial has a
// loss yet, saying what to do.
Result<std::string> ComparePlotSvg(const Json& rows, const PlotOptions& options);

}  // namespace lf::cli
