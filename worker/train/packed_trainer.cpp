#include "worker/train/packed_trainer.h"

#include <algorithm>

#include "worker/peft/lora.h"
#include "worker/train/memory.h"

namespace lf::worker {
namespace {

const std::vector<Batch> kNoEval;

}  // namespace

PackedTrainer::PackedTrainer(CausalLm& model) : model_(model), attached_(model, &hook_) {
  ResetPeakMemory();  // the members' runs share the model, so none resets it
}

std::vector<std::string> PackedTrainer::ids() const {
  std::vector<std::string> out;
  for (const Member& m : members_) out.push_back(m.id);
  return out;
}

Status PackedTrainer::Add(PackMember member) {
  LF_CHECK(member.adapter != nullptr && member.train != nullptr);
  if (!IsPlainLora(*member.adapter)) {
    return FailedPrecondition("trial " + member.id + ": method " +
                              std::string(jobs::MethodName(member.adapter->method())) +
                              " cannot join a pack (packs take plain LoRA); it trains alone");
  }
  if (member.options.gang != nullptr) {
    return FailedPrecondition("trial " + member.id + " trains on a gang of ranks, which packs do "
                              "not take; it trains alone");
  }
  const int64_t seq_len = member.train->options().seq_len;
  if (!members_.empty() && seq_len != seq_len_) {
    return FailedPrecondition("trial " + member.id + ": rows of " + std::to_string(seq_len) +
                              " tokens cannot join a pack of " + std::to_string(seq_len_) +
                              "-token rows (data.seq_len must match)");
  }
  for (const Member& m : members_) {
    if (m.id == member.id) return AlreadyExists("trial " + member.id + " is already in the pack");
  }
  auto run = std::make_unique<TrainingRun>(model_, member.adapter, member.spec,
                                           std::move(member.options), *member.train,
                                           member.eval != nullptr ? *member.eval : kNoEval,
                                           /*shared=*/true);
  if (Status st = run->Begin(); !st.ok()) return st.WithContext("trial " + member.id);
  if (members_.empty()) seq_len_ = seq_len;
  members_.push_back({.id = member.id, .run = std::move(run)});
  return Status::Ok();
}

PackResult PackedTrainer::Leave(size_t index, Result<TrainResult> result) {
  PackResult out{.id = members_[index].id, .result = std::move(result)};
  members_.erase(members_.begin() + static_cast<std::ptrdiff_t>(index));
  return out;
}

std::vector<PackResult> PackedTrainer::Step() {
  std::vector<PackResult> finished;
  // A member at a step boundary starts its next step, or finishes when it has none (or a stop
  // was requested).
  for (size_t k = 0; k < members_.size();) {
    Member& m = members_[k];
    if (m.micro == 0 && !m.run->BeginStep()) {
      finished.push_back(Leave(k, m.run->Finish()));
      continue;
    }
    ++k;
  }
  if (members_.empty()) return finished;

  std::vector<MicroBatch> batches;
  std::vector<torch::Tensor> ids;
  std::vector<Adapter*> adapters;
  std::vector<int64_t> rows;
  for (Member& m : members_) {
    batches.push_back(m.run->NextMicroBatch());
    ids.push_back(batches.back().input_ids);
    adapters.push_back(m.run->adapter());
    rows.push_back(batches.back().input_ids.size(0));
  }
  // When any member's rows pack documents, the others' (stream-packed) rows are one document each.
  torch::Tensor documents;
  if (std::any_of(batches.begin(), batches.end(),
                  [](const MicroBatch& b) { return b.document_ids.defined(); })) {
    std::vector<torch::Tensor> parts;
    for (const MicroBatch& b : batches) {
      parts.push_back(b.document_ids.defined() ? b.document_ids : torch::zeros_like(b.input_ids));
    }
    documents = torch::cat(parts, 0);
  }
  hook_.Set(adapters, rows);
  const LmHeadInput head = model_.ForwardHidden(torch::cat(ids, 0), documents);
  // Each trial's loss over its own rows, as alone; the sum's gradient reaches each adapter
  // through its rows only, so each gets exactly its own loss's gradient.
  torch::Tensor total;
  std::vector<torch::Tensor> losses;  // on the device: each run reads its own when it reports
  int64_t offset = 0;
  for (size_t k = 0; k < members_.size(); ++k) {
    torch::Tensor part = members_[k].run->StepLoss(head.Rows(offset, rows[k]), batches[k]);
    offset += rows[k];
    torch::Tensor scaled = members_[k].run->ForBackward(part);
    total = total.defined() ? total + scaled : scaled;
    losses.push_back(part.detach().to(torch::kFloat64));
  }
  total.backward();
  // Members may leave (and their adapters be destroyed) below: the hook forgets them until the
  // next step sets them again.
  hook_.Set({}, {});
  for (size_t k = 0, i = 0; k < members_.size(); ++i) {
    Member& m = members_[k];
    m.step_loss = m.step_loss.defined() ? m.step_loss + losses[i] : losses[i];
    if (++m.micro < m.run->spec().grad_accum) {
      ++k;
      continue;
    }
    Status st = m.run->EndStep(m.step_loss);
    m.micro = 0;
    m.step_loss = torch::Tensor();
    if (!st.ok()) {
      finished.push_back(Leave(k, st.WithContext("trial " + m.id)));
    } else if (m.run->done()) {
      finished.push_back(Leave(k, m.run->Finish()));
    } else {
      ++k;
    }
  }
  return finished;
}

std::vector<PackResult> PackedTrainer::Run() {
  std::vector<PackResult> all;
  while (!members_.empty()) {
    for (PackResult& r : Step()) all.push_back(std::move(r));
  }
  return all;
}

}  // namespace lf::worker
