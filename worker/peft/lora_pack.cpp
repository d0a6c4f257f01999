#include "worker/peft/lora_pack.h"

#include "kernels/grouped_lora.h"
#include "worker/peft/lora.h"

namespace lf::worker {

void LoraPack::Set(std::vector<Adapter*> members, std::vector<int64_t> rows) {
  LF_CHECK(members.size() == rows.size());
  members_ = std::move(members);
  rows_ = std::move(rows);
}

torch::Tensor LoraPack::Apply(const LinearModule& m, const torch::Tensor& x, torch::Tensor base) {
  std::vector<std::optional<LoraPath>> paths;
  bool any = false;
  for (Adapter* member : members_) {
    paths.push_back(LoraPathOf(*member, m.name));
    any |= paths.back().has_value();
  }
  if (!any) return base;
  std::vector<torch::Tensor> a, b;
  std::vector<double> scale;
  std::vector<double> dropout;
  for (std::optional<LoraPath>& path : paths) {
    if (!path) {  // this trial leaves the module alone: a rank-0 path adds nothing
      path = LoraPath{.a = torch::zeros({0, m.in_features()}, x.options()),
                      .b = torch::zeros({m.out_features(), 0}, x.options())};
    }
    a.push_back(InDtypeOf(path->a, x));  // fp32 master weights in a bf16 or fp16 pack
    b.push_back(InDtypeOf(path->b, x));
    scale.push_back(path->scale);
    dropout.push_back(path->dropout);
  }
  // Every batch row of x holds the same number of positions, so trial k's flattened rows follow
  // from its batch rows.
  int64_t batch_rows = 0;
  for (int64_t r : rows_) batch_rows += r;
  const int64_t in = m.in_features();
  torch::Tensor flat = x.reshape({-1, in});
  LF_CHECK_MSG(batch_rows > 0 && flat.size(0) % batch_rows == 0,
               "LoraPack: the batch does not match the members' rows (" +
                   std::to_string(flat.size(0)) + " positions for " + std::to_string(batch_rows) +
                   " rows)");
  const int64_t positions = flat.size(0) / batch_rows;
  std::vector<int64_t> offsets = {0};
  for (int64_t r : rows_) offsets.push_back(offsets.back() + r * positions);
  bool dropped = false;
  for (double p : dropout) dropped |= p > 0;
  if (dropped) {
    std::vector<torch::Tensor> pieces;
    for (size_t k = 0; k < members_.size(); ++k) {
      torch::Tensor rows = flat.narrow(0, offsets[k], offsets[k + 1] - offsets[k]);
      pieces.push_back(dropout[k] > 0 ? torch::dropout(rows, dropout[k], /*train=*/true) : rows);
    }
    flat = torch::cat(pieces, 0);
  }
  torch::Tensor delta = kernels::GroupedLora(flat, offsets, a, b, scale);
  // In place, as LoRA alone does: `base` is a fresh output that backward does not need.
  return base.add_(delta.view(base.sizes()));
}

}  // namespace lf::worker
