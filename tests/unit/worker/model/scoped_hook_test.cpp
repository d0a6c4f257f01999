// ScopedHook: a guard sets the model's hook for its lifetime and gives back the one before, guards
// nest, and one that ends out of order is caught rather than leaving the model on a stale hook.
#include <optional>
#include <type_traits>

#include <gtest/gtest.h>

#include "model/test_models.h"
#include "worker/model/causal_lm.h"

namespace lf::worker {
namespace {

using testing::NewModel;
using testing::SampleIds;

// Scales every linear module's output, so the logits show whether the hook is attached.
class ScalingHook final : public ModelHook {
 public:
  explicit ScalingHook(double factor) : factor_(factor) {}
  torch::Tensor Apply(const LinearModule&, const torch::Tensor&, torch::Tensor base) override {
    ++calls;
    return base * factor_;
  }
  int calls = 0;

 private:
  double factor_;
};

static_assert(!std::is_copy_constructible_v<ScopedHook> && !std::is_copy_assignable_v<ScopedHook>);
static_assert(!std::is_move_constructible_v<ScopedHook> && !std::is_move_assignable_v<ScopedHook>);

TEST(ScopedHookTest, AttachesForItsLifetimeAndGivesBackTheHookBefore) {
  auto model = NewModel(testing::TinyGpt2());
  torch::Tensor ids = SampleIds(2, 6, 50);
  torch::Tensor base = model->Forward(ids);
  ASSERT_EQ(model->hook(), nullptr);
  ScalingHook hook(1.5);
  {
    ScopedHook attached(*model, &hook);
    EXPECT_EQ(model->hook(), &hook);
    EXPECT_FALSE(torch::equal(model->Forward(ids), base));
    EXPECT_GT(hook.calls, 0);
  }
  EXPECT_EQ(model->hook(), nullptr);
  const int calls = hook.calls;
  EXPECT_TRUE(torch::equal(model->Forward(ids), base));
  EXPECT_EQ(hook.calls, calls);  // no longer reached
}

TEST(ScopedHookTest, NestedGuardsGiveBackTheirHooksInReverseOrder) {
  auto model = NewModel(testing::TinyLlama());
  torch::Tensor ids = SampleIds(1, 5, 50);
  torch::Tensor base = model->Forward(ids);
  ScalingHook outer(1.5), inner(0.5);
  ScopedHook outer_attached(*model, &outer);
  torch::Tensor with_outer = model->Forward(ids);
  {
    ScopedHook inner_attached(*model, &inner);
    EXPECT_EQ(model->hook(), &inner);
    {
      ScopedHook base_alone(*model, nullptr);  // sets the others aside
      EXPECT_EQ(model->hook(), nullptr);
      EXPECT_TRUE(torch::equal(model->Forward(ids), base));
    }
    EXPECT_EQ(model->hook(), &inner);
  }
  EXPECT_EQ(model->hook(), &outer);
  EXPECT_TRUE(torch::equal(model->Forward(ids), with_outer));
}

TEST(ScopedHookTest, AttachingToOneModelLeavesAnotherAlone) {
  auto model = NewModel(testing::TinyGpt2());
  auto other = NewModel(testing::TinyGpt2());
  ScalingHook hook(2);
  ScopedHook attached(*model, &hook);
  EXPECT_EQ(model->hook(), &hook);
  EXPECT_EQ(other->hook(), nullptr);
}

TEST(ScopedHookDeathTest, AGuardEndingBeforeOneMadeAfterItAborts) {
  auto model = NewModel(testing::TinyGpt2());
  ScalingHook first(2), second(3);
  EXPECT_DEATH(
      {
        std::optional<ScopedHook> outer(std::in_place, *model, &first);
        ScopedHook inner(*model, &second);
        outer.reset();  // would give the model `first` back while `inner` still holds it
      },
      "reverse order");
}

}  // namespace
}  // namespace lf::worker
