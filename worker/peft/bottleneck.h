// Bottleneck adapters (Houlsby et al. 2019): a small residual MLP after a sublayer's output
// projection, h + scaling · up(act(down(dropout(h)))), inserted before the sublayer's residual
// sum: after attention (GPT-2 attn.c_proj, Llama self_attn.o_proj) and after the feed-forward
// (mlp.c_proj, mlp.down_proj), as jobs::BottleneckSpec::after says. `up` starts at zero, so an
// untrained adapter leaves the output unchanged. PEFT has no such method: the folder format
// (peft_type "BOTTLENECK") is lorafleet's, in docs/formats/adapters.md.
#pragma once

#include "worker/peft/adapter.h"

namespace lf::worker {

Result<std::unique_ptr<Adapter>> CreateBottleneck(CausalLm& model, const jobs::BottleneckSpec& spec,
                                                  uint64_t seed);

// adapter_config.json of a BOTTLENECK folder -> its settings; errors name the field.
Result<jobs::BottleneckSpec> BottleneckSpecFromConfig(const JsonField& config);

}  // namespace lf::worker
