// Fuzz target: a sweep file as POST /v1/sweeps receives it: ParseYaml, ParseSweepSpec and
// ExpandSweep (jobs/sweep_spec.h). Invariants: nothing throws; SweepSpecToJson's resolved form
// parses back to the same spec (the header promises it); expansion gives trials numbered in
// order, each with a job that survives JobSpecToJson and ParseJobSpec unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/yaml.h"
#include "jobs/sweep_spec.h"

namespace {

// Large grids are fine but slow to expand; the limit's own check is covered by the first call.
constexpr size_t kMaxTrials = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  lf::Result<lf::Json> doc = lf::ParseYaml(text, "fuzz.yaml");
  if (!doc.ok()) return 0;
  lf::Result<lf::jobs::SweepSpec> spec = lf::jobs::ParseSweepSpec(*doc);
  if (!spec.ok()) {
    LF_CHECK_MSG(!spec.status().message().empty(), "a refused sweep without a message");
    return 0;
  }
  const lf::Json resolved = lf::jobs::SweepSpecToJson(*spec);
  lf::Result<lf::jobs::SweepSpec> again = lf::jobs::ParseSweepSpec(resolved);
  LF_CHECK_MSG(again.ok(), "SweepSpecToJson's form is refused: " + again.status().ToString() +
                               "\n" + resolved.dump(-1, ' ', true));
  LF_CHECK_MSG(*again == *spec, "SweepSpecToJson's form parses to another spec: " +
                                    resolved.dump(-1, ' ', true));

  lf::Result<std::vector<lf::jobs::TrialSpec>> trials = lf::jobs::ExpandSweep(*spec, kMaxTrials);
  if (!trials.ok()) return 0;
  LF_CHECK(!trials->empty() && trials->size() <= kMaxTrials);
  for (size_t i = 0; i < trials->size(); ++i) {
    const lf::jobs::TrialSpec& trial = (*trials)[i];
    LF_CHECK(trial.index == i);
    const lf::Json job = lf::jobs::JobSpecToJson(trial.job);
    lf::Result<lf::jobs::JobSpec> reparsed = lf::jobs::ParseJobSpec(job);
    LF_CHECK_MSG(reparsed.ok(), "a trial's resolved job is refused: " +
                                    reparsed.status().ToString() + "\n" + job.dump());
    LF_CHECK_MSG(lf::jobs::JobSpecToJson(*reparsed) == job,
                 "a trial's job changes through JSON: " + job.dump());
  }
  return 0;
}
