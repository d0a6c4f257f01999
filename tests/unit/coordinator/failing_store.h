// An ExperimentStore that refuses writes on demand, over the in-memory store: what the coordinator
// sees of a disk that fills up. FillDisk: every write fails and the store reports that it takes
// no writes (as the RocksDB store does after a background error) until TryResume succeeds, which
// it does once FreeDisk was called. RefuseWrites: writes fail while the store still says it is
// writable (a write that fails on its own, between two health checks). Reads always pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "coordinator/store/experiment_store.h"

namespace lf::store::testing {

class FailingStore final : public ExperimentStore {
 public:
  explicit FailingStore(std::unique_ptr<ExperimentStore> inner) : inner_(std::move(inner)) {}

  void FillDisk() {
    full_ = true;
    writable_ = false;
  }
  void FreeDisk() { full_ = false; }
  void RefuseWrites(bool refuse) { refuse_ = refuse; }
  int resume_attempts() const { return resume_attempts_; }
  int refused() const { return refused_; }

  Status CreateSweep(const SweepRecord& sweep, const std::vector<TrialRecord>& trials,
                     const std::string& actor) override {
    LF_RETURN_IF_ERROR(Refuse("creating sweep " + sweep.id));
    return inner_->CreateSweep(sweep, trials, actor);
  }
  Status AddTrials(const std::string& id, const std::vector<TrialRecord>& trials,
                   const std::string& actor) override {
    LF_RETURN_IF_ERROR(Refuse("adding trials to sweep " + id));
    return inner_->AddTrials(id, trials, actor);
  }
  Result<SweepRecord> GetSweep(const std::string& id) const override {
    return inner_->GetSweep(id);
  }
  Result<std::vector<SweepRecord>> ListSweeps() const override { return inner_->ListSweeps(); }
  Result<SweepRecord> UpdateSweep(const std::string& id, const SweepUpdate& update) override {
    LF_RETURN_IF_ERROR(Refuse("updating sweep " + id));
    return inner_->UpdateSweep(id, update);
  }
  Result<TrialRecord> GetTrial(const std::string& id) const override {
    return inner_->GetTrial(id);
  }
  Result<std::vector<TrialRecord>> ListTrials(const TrialFilter& filter) const override {
    return inner_->ListTrials(filter);
  }
  Result<TrialRecord> TransitionTrial(const TransitionRequest& request) override {
    LF_RETURN_IF_ERROR(Refuse("transition of " + request.trial_id));
    return inner_->TransitionTrial(request);
  }
  std::vector<Result<TrialRecord>> TransitionTrials(
      const std::vector<TransitionRequest>& requests) override {
    if (Status st = Refuse("committing trial transitions"); !st.ok()) {
      return std::vector<Result<TrialRecord>>(requests.size(), Result<TrialRecord>(st));
    }
    return inner_->TransitionTrials(requests);
  }
  Status AppendMetrics(const std::string& id, std::span<const MetricPoint> points) override {
    LF_RETURN_IF_ERROR(Refuse("appending metrics of " + id));
    return inner_->AppendMetrics(id, points);
  }
  Result<std::vector<MetricPoint>> ReadMetrics(const std::string& id,
                                               const MetricQuery& query) const override {
    return inner_->ReadMetrics(id, query);
  }
  Result<AdapterFileInfo> PutAdapterFile(const std::string& id, const std::string& name,
                                         std::string_view bytes,
                                         const std::string& actor) override {
    LF_RETURN_IF_ERROR(Refuse("storing adapter file " + name));
    return inner_->PutAdapterFile(id, name, bytes, actor);
  }
  Result<std::string> GetAdapterFile(const std::string& id,
                                     const std::string& name) const override {
    return inner_->GetAdapterFile(id, name);
  }
  Result<std::vector<AdapterFileInfo>> ListAdapterFiles(const std::string& id) const override {
    return inner_->ListAdapterFiles(id);
  }
  Status SetTag(const TagRecord& tag) override {
    LF_RETURN_IF_ERROR(Refuse("tagging " + tag.trial_id));
    return inner_->SetTag(tag);
  }
  Result<std::vector<TagRecord>> ListTags() const override { return inner_->ListTags(); }
  Result<uint64_t> RecordEvent(const EventRecord& event) override {
    LF_RETURN_IF_ERROR(Refuse("recording event " + event.kind));
    return inner_->RecordEvent(event);
  }
  Result<std::vector<EventRecord>> ReadEvents(const EventQuery& query) const override {
    return inner_->ReadEvents(query);
  }
  Status Backup(const std::string& dir) const override { return inner_->Backup(dir); }
  Result<StoreInfo> Info() const override { return inner_->Info(); }
  uint64_t ApproximateBytes() const override { return inner_->ApproximateBytes(); }
  StoreHealth Health() const override {
    StoreHealth h;
    h.writable = writable_;
    if (!writable_) {
      h.error = "injected: the disk is full";
      h.since_ms = 1;
    }
    return h;
  }
  Status TryResume() override {
    if (writable_) return Status::Ok();
    ++resume_attempts_;
    if (full_) return Unavailable("injected: the disk is still full");
    writable_ = true;
    return Status::Ok();
  }
  Result<std::vector<QuarantinedRecord>> ListQuarantined() const override {
    return inner_->ListQuarantined();
  }

 private:
  Status Refuse(const std::string& what) {
    if (!full_ && writable_ && !refuse_) return Status::Ok();
    ++refused_;
    return Unavailable(what + ": injected: the disk is full");
  }

  std::unique_ptr<ExperimentStore> inner_;
  bool full_ = false;
  bool writable_ = true;
  bool refuse_ = false;
  int resume_attempts_ = 0;
  int refused_ = 0;
};

}  // namespace lf::store::testing
