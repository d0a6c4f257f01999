#include "worker/data/packed_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "worker/data/batch.h"
#include "worker/data/shuffle.h"

namespace lf::worker {
namespace {

constexpr int64_t kIgn = kIgnoreIndex;

Example Make(std::vector<int32_t> ids, std::vector<uint8_t> loss = {}) {
  if (loss.empty()) loss.assign(ids.size(), 1);
  return Example{std::move(ids), std::move(loss)};
}

// Examples whose ids are all distinct (100 * example + position), lengths 1..9.
std::vector<Example> Distinct(int n) {
  std::vector<Example> examples;
  for (int e = 0; e < n; ++e) {
    std::vector<int32_t> ids;
    for (int t = 0; t < 1 + (e * 7) % 9; ++t) ids.push_back(100 * e + t);
    std::vector<uint8_t> loss(ids.size(), 1);
    loss[0] = e % 2;  // some first tokens masked, as prompts are
    examples.push_back(Make(std::move(ids), std::move(loss)));
  }
  return examples;
}

PackedLoader MakeLoader(std::vector<Example> examples, PackedLoaderOptions options) {
  auto loader = PackedLoader::Create(std::move(examples), options);
  EXPECT_TRUE(loader.ok()) << loader.status().ToString();
  return std::move(loader).value();
}

std::vector<int64_t> Row(const std::vector<int64_t>& v, int64_t seq_len, int64_t r) {
  return {v.begin() + r * seq_len, v.begin() + (r + 1) * seq_len};
}

TEST(DataShuffleTest, SplitMix64MatchesTheReferenceOutputs) {
  SplitMix64 rng(1234567);  // values from the authors' splitmix64.c
  EXPECT_EQ(rng.Next(), 6457827717110365317ULL);
  EXPECT_EQ(rng.Next(), 3203168211198807973ULL);
  EXPECT_EQ(rng.Next(), 9817491932198370423ULL);
  EXPECT_EQ(rng.Next(), 4593380528125082431ULL);
  EXPECT_EQ(rng.Next(), 16408922859458223821ULL);
}

TEST(DataShuffleTest, FixedOrderForAGivenSeed) {
  // Pinned: a change here changes every run's data order, and resumed runs would diverge.
  EXPECT_EQ(ShuffledIndices(10, 42), (std::vector<int64_t>{0, 9, 5, 8, 6, 4, 7, 2, 1, 3}));
  EXPECT_EQ(EpochSeed(7, 0), 0x63cbe1e459320dd7ULL);
  EXPECT_EQ(EpochSeed(7, 1), 0x044c3cd7f43c661cULL);
  EXPECT_TRUE(ShuffledIndices(0, 1).empty());
  EXPECT_EQ(ShuffledIndices(1, 1), (std::vector<int64_t>{0}));
}

TEST(DataShuffleTest, IsAPermutationAndRoughlyUniform) {
  std::vector<int> first_counts(4, 0);
  for (uint64_t seed = 0; seed < 4000; ++seed) {
    std::vector<int64_t> order = ShuffledIndices(4, seed);
    std::vector<int64_t> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(sorted, (std::vector<int64_t>{0, 1, 2, 3}));
    ++first_counts[static_cast<size_t>(order[0])];
  }
  for (int count : first_counts) EXPECT_NEAR(count, 1000, 120);
}

TEST(PackedLoaderTest, PacksATinyExampleAsComputedByHand) {
  // A = text (all targets); B = prompt 20 21, completion 22, EOS 23. 7 tokens, seq_len 3:
  // (7 - 1) / 3 = 2 rows per epoch. Seed 0 orders epoch 0 as A B and epoch 1 as B A.
  std::vector<Example> examples = {Make({10, 11, 12}), Make({20, 21, 22, 23}, {0, 0, 1, 1})};
  PackedLoader loader = MakeLoader(examples, {.seq_len = 3, .batch_size = 2, .seed = 0});
  EXPECT_EQ(loader.rows_per_epoch(), 2);
  EXPECT_EQ(loader.stats().tokens, 7);
  EXPECT_EQ(loader.tokens_per_step(), 6);

  Batch b0 = loader.Next();  // stream 10 11 12 20 21 22 23: rows [10 11 12 20], [20 21 22 23]
  EXPECT_EQ(b0.rows, 2);
  EXPECT_EQ(b0.seq_len, 3);
  EXPECT_EQ(b0.input_ids, (std::vector<int64_t>{10, 11, 12, 20, 21, 22}));
  EXPECT_EQ(b0.labels, (std::vector<int64_t>{11, 12, kIgn, kIgn, 22, 23}));
  EXPECT_EQ(b0.lengths, (std::vector<int64_t>{3, 3}));
  EXPECT_EQ(b0.tokens, 6);
  EXPECT_EQ(b0.loss_tokens, 4);
  EXPECT_EQ(AttentionMask(b0), (std::vector<int64_t>(6, 1)));

  Batch b1 = loader.Next();  // stream 20 21 22 23 10 11 12: rows [20 21 22 23], [23 10 11 12]
  EXPECT_EQ(b1.input_ids, (std::vector<int64_t>{20, 21, 22, 23, 10, 11}));
  EXPECT_EQ(b1.labels, (std::vector<int64_t>{kIgn, 22, 23, 10, 11, 12}));
  EXPECT_EQ(b1.loss_tokens, 5);
  EXPECT_EQ(loader.step(), 2);
  EXPECT_DOUBLE_EQ(loader.epochs_done(), 2.0);
}

TEST(PackedLoaderTest, LabelsAreTheNextTokenAndRowsOverlapByOne) {
  // One 10-token example: rows of 4 read tokens [0..4] and [4..8]; token 9 is left over.
  PackedLoader loader =
      MakeLoader({Make({0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}, {.seq_len = 4, .batch_size = 2});
  EXPECT_EQ(loader.rows_per_epoch(), 2);
  Batch b = loader.Next();
  EXPECT_EQ(b.input_ids, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(b.labels, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(PackedLoaderTest, EachEpochPredictsEveryTokenButTheFirstOnce) {
  // 20 examples with distinct ids; seq_len 7 divides tokens - 1, so nothing is left over and an
  // epoch's labels are exactly the stream after its first token.
  std::vector<Example> examples = Distinct(20);
  DataStats stats = CountTokens(examples);
  ASSERT_EQ((stats.tokens - 1) % 7, 0) << stats.tokens;
  PackedLoader loader = MakeLoader(examples, {.seq_len = 7, .batch_size = 1, .seed = 3});
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> inputs, labels;
    int64_t loss_tokens = 0;
    for (int64_t r = 0; r < loader.rows_per_epoch(); ++r) {
      Batch b = loader.Next();
      inputs.insert(inputs.end(), b.input_ids.begin(), b.input_ids.end());
      labels.insert(labels.end(), b.labels.begin(), b.labels.end());
      loss_tokens += b.loss_tokens;
    }
    // Inputs are the stream but its last token; each label is the following input when a target.
    for (size_t t = 0; t + 1 < inputs.size(); ++t) {
      if (labels[t] != kIgn) {
        EXPECT_EQ(labels[t], inputs[t + 1]) << t;
      }
    }
    // Every target but the stream's first token is predicted: all loss tokens, less that one.
    const int64_t first_id = inputs[0];
    const bool first_is_target = examples[static_cast<size_t>(first_id / 100)].loss[0] == 1;
    EXPECT_EQ(loss_tokens, stats.loss_tokens - (first_is_target ? 1 : 0)) << epoch;
    std::vector<int64_t> seen = inputs;
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a token repeats";
    EXPECT_EQ(static_cast<int64_t>(seen.size()), stats.tokens - 1);
  }
}

TEST(PackedLoaderTest, SameSeedSameBatchesOtherSeedOrEpochDifferent) {
  PackedLoaderOptions options = {.seq_len = 8, .batch_size = 3, .seed = 11};
  PackedLoader a = MakeLoader(Distinct(30), options);
  PackedLoader b = MakeLoader(Distinct(30), options);
  options.seed = 12;
  PackedLoader c = MakeLoader(Distinct(30), options);
  ASSERT_LT(a.rows_per_epoch(), 3 * 10);  // the steps below cross into later epochs
  for (int step = 0; step < 10; ++step) {
    Batch x = a.Next(), y = b.Next(), z = c.Next();
    EXPECT_EQ(x.input_ids, y.input_ids) << step;
    EXPECT_EQ(x.labels, y.labels) << step;
    EXPECT_NE(x.input_ids, z.input_ids) << step;
  }
  // Epoch 1 is another order than epoch 0: its first row differs.
  PackedLoader one_row = MakeLoader(Distinct(30), {.seq_len = 8, .batch_size = 1, .seed = 11});
  std::vector<int64_t> epoch0_first = one_row.Next().input_ids;
  one_row.SeekToStep(one_row.rows_per_epoch());
  EXPECT_NE(one_row.Next().input_ids, epoch0_first);
  EXPECT_NE(ShuffledIndices(30, EpochSeed(11, 0)), ShuffledIndices(30, EpochSeed(11, 1)));
}

TEST(PackedLoaderTest, ResumingAtStepKGivesTheUninterruptedBatches) {
  PackedLoaderOptions options = {.seq_len = 7, .batch_size = 4, .seed = 5, .rank = 1, .world = 2};
  PackedLoader uninterrupted = MakeLoader(Distinct(25), options);
  std::vector<Batch> expected;
  for (int step = 0; step < 12; ++step) expected.push_back(uninterrupted.Next());
  ASSERT_NE(uninterrupted.rows_per_epoch() % 8, 0);  // some global batches straddle epochs

  for (int64_t k : {0, 1, 5, 11}) {
    PackedLoader resumed = MakeLoader(Distinct(25), options);
    resumed.SeekToStep(k);
    for (int64_t step = k; step < 12; ++step) {
      Batch b = resumed.Next();
      EXPECT_EQ(b.input_ids, expected[step].input_ids) << "k=" << k << " step=" << step;
      EXPECT_EQ(b.labels, expected[step].labels) << "k=" << k << " step=" << step;
      EXPECT_EQ(b.loss_tokens, expected[step].loss_tokens);
    }
  }
  uninterrupted.SeekToStep(3);  // backwards works too
  EXPECT_EQ(uninterrupted.Next().input_ids, expected[3].input_ids);
}

TEST(PackedLoaderTest, ShardsAreContiguousSlicesOfTheGlobalBatch) {
  constexpr int kWorld = 3;
  constexpr int64_t kPerRank = 2;
  PackedLoader single =
      MakeLoader(Distinct(40), {.seq_len = 6, .batch_size = kWorld * kPerRank, .seed = 9});
  std::vector<PackedLoader> ranks;
  for (int r = 0; r < kWorld; ++r) {
    ranks.push_back(
        MakeLoader(Distinct(40),
                   {.seq_len = 6, .batch_size = kPerRank, .seed = 9, .rank = r, .world = kWorld}));
  }
  for (int step = 0; step < 8; ++step) {
    Batch all = single.Next();
    std::vector<int64_t> inputs, labels;
    int64_t loss_tokens = 0;
    for (PackedLoader& rank : ranks) {
      Batch b = rank.Next();
      EXPECT_EQ(b.rows, kPerRank);
      inputs.insert(inputs.end(), b.input_ids.begin(), b.input_ids.end());
      labels.insert(labels.end(), b.labels.begin(), b.labels.end());
      loss_tokens += b.loss_tokens;
    }
    EXPECT_EQ(inputs, all.input_ids) << step;
    EXPECT_EQ(labels, all.labels) << step;
    EXPECT_EQ(loss_tokens, all.loss_tokens) << step;
  }
  EXPECT_DOUBLE_EQ(ranks[0].epochs_done(), single.epochs_done());
}

TEST(PackedLoaderTest, BatchLargerThanAnEpochWrapsIntoTheNext) {
  PackedLoader loader = MakeLoader({Make({1, 2, 3, 4, 5})}, {.seq_len = 2, .batch_size = 5});
  EXPECT_EQ(loader.rows_per_epoch(), 2);
  Batch b = loader.Next();
  ASSERT_EQ(b.rows, 5);
  for (int64_t r = 0; r < 5; ++r) {
    EXPECT_EQ(Row(b.input_ids, 2, r),
              (r % 2 == 0 ? std::vector<int64_t>{1, 2} : std::vector<int64_t>{3, 4}));
  }
  EXPECT_DOUBLE_EQ(loader.epochs_done(), 2.5);
}

TEST(PackedLoaderTest, RejectsBadOptionsAndTooLittleData) {
  auto error = [](std::vector<Example> examples, PackedLoaderOptions options) {
    auto loader = PackedLoader::Create(std::move(examples), options);
    EXPECT_FALSE(loader.ok());
    return loader.ok() ? std::string() : loader.status().message();
  };
  std::vector<Example> four = {Make({1, 2}), Make({3, 4})};
  EXPECT_EQ(error(four, {.seq_len = 5, .batch_size = 1}),
            "the training data has 4 tokens in 2 examples, but one packed row of seq_len 5 needs "
            "6; add data or lower seq_len");
  EXPECT_EQ(error(four, {.seq_len = 0, .batch_size = 1}), "seq_len must be at least 1, got 0");
  EXPECT_EQ(error(four, {.seq_len = 1, .batch_size = 0}), "batch_size must be at least 1, got 0");
  EXPECT_EQ(error(four, {.seq_len = 1, .batch_size = 1, .rank = 2, .world = 2}),
            "rank must be in [0, world) = [0, 2), got 2");
  EXPECT_NE(error({}, {.seq_len = 1, .batch_size = 1}).find("has 0 tokens"), std::string::npos);
  EXPECT_NE(error({Example{{1, 2}, {1}}}, {.seq_len = 1, .batch_size = 1}).find("2 ids and 1"),
            std::string::npos);
  // Exactly seq_len + 1 tokens is enough for one row.
  EXPECT_TRUE(PackedLoader::Create(four, {.seq_len = 3, .batch_size = 1}).ok());
}

TEST(DataEvalBatchesTest, OneRowPerExamplePaddedToTheLongestRowOfItsBatch) {
  std::vector<Example> examples = {
      Make({1, 2, 3}),                               // 2 inputs
      Make({4, 5, 6, 7, 8, 9}, {0, 0, 1, 1, 1, 1}),  // 6 tokens: cut to 5, 4 inputs
      Make({7}),                                     // nothing to predict: no row
      Make({8, 9}, {0, 1}),                          // 1 input
  };
  auto batches = EvalBatches(examples, /*seq_len=*/4, /*batch_size=*/2, /*pad_id=*/0);
  ASSERT_TRUE(batches.ok()) << batches.status().ToString();
  ASSERT_EQ(batches->size(), 2u);
  const Batch& b0 = (*batches)[0];
  EXPECT_EQ(b0.rows, 2);
  EXPECT_EQ(b0.seq_len, 4);
  EXPECT_EQ(b0.input_ids, (std::vector<int64_t>{1, 2, 0, 0, 4, 5, 6, 7}));
  EXPECT_EQ(b0.labels, (std::vector<int64_t>{2, 3, kIgn, kIgn, kIgn, 6, 7, 8}));
  EXPECT_EQ(b0.lengths, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(AttentionMask(b0), (std::vector<int64_t>{1, 1, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(b0.tokens, 6);
  EXPECT_EQ(b0.loss_tokens, 5);
  const Batch& b1 = (*batches)[1];
  EXPECT_EQ(b1.rows, 1);
  EXPECT_EQ(b1.seq_len, 1);
  EXPECT_EQ(b1.input_ids, (std::vector<int64_t>{8}));
  EXPECT_EQ(b1.labels, (std::vector<int64_t>{9}));

  EXPECT_TRUE(EvalBatches({}, 4, 2, 0)->empty());
  EXPECT_FALSE(EvalBatches(examples, 0, 2, 0).ok());
  EXPECT_FALSE(EvalBatches(examples, 4, 0, 0).ok());
}

// packing: documents and pad (chat data): whole examples, each attending only to itself.
PackedLoaderOptions ExampleRows(jobs::DataPacking packing, int64_t seq_len, int64_t batch_size) {
  return {.seq_len = seq_len, .batch_size = batch_size, .seed = 3, .packing = packing,
          .pad_id = -7};
}

TEST(PackedLoaderDocumentsTest, PacksWholeExamplesWithDocumentIdsAndPadding) {
  // Lengths 3, 5, 2, 4: positions (length - 1) 2, 4, 1, 3. One example keeps all four rows'
  // contents checkable: every id says which example and position it is.
  std::vector<Example> examples = {Make({10, 11, 12}, {0, 1, 1}), Make({20, 21, 22, 23, 24}),
                                   Make({30, 31}, {0, 1}), Make({40, 41, 42, 43}, {0, 0, 1, 1})};
  PackedLoader loader = MakeLoader(examples, ExampleRows(jobs::DataPacking::kDocuments, 5, 1));
  const std::vector<int64_t> order = ShuffledIndices(4, EpochSeed(3, 0));
  // Greedy packing of that order into rows of 5 positions, computed here independently.
  std::vector<std::vector<int64_t>> rows = {{}};
  int64_t used = 0;
  for (int64_t e : order) {
    const int64_t positions = static_cast<int64_t>(examples[static_cast<size_t>(e)].ids.size()) - 1;
    if (used > 0 && used + positions > 5) {
      rows.push_back({});
      used = 0;
    }
    rows.back().push_back(e);
    used += positions;
  }
  EXPECT_EQ(loader.rows_per_epoch(), static_cast<int64_t>(rows.size()));
  int64_t loss_tokens = 0;
  for (const auto& row : rows) {
    Batch b = loader.Next();
    ASSERT_EQ(b.document_ids.size(), 5u);
    std::vector<int64_t> inputs, labels, docs;
    for (size_t d = 0; d < row.size(); ++d) {
      const Example& ex = examples[static_cast<size_t>(row[d])];
      for (size_t t = 0; t + 1 < ex.ids.size(); ++t) {
        inputs.push_back(ex.ids[t]);
        labels.push_back(ex.loss[t + 1] ? ex.ids[t + 1] : kIgn);
        docs.push_back(static_cast<int64_t>(d));
        loss_tokens += ex.loss[t + 1];
      }
    }
    EXPECT_EQ(b.lengths, (std::vector<int64_t>{static_cast<int64_t>(inputs.size())}));
    EXPECT_EQ(b.tokens, static_cast<int64_t>(inputs.size()));
    while (inputs.size() < 5) {  // padding: its own document, no loss
      inputs.push_back(-7);
      labels.push_back(kIgn);
      docs.push_back(static_cast<int64_t>(row.size()));
    }
    EXPECT_EQ(b.input_ids, inputs);
    EXPECT_EQ(b.labels, labels);
    EXPECT_EQ(b.document_ids, docs);
  }
  // One epoch predicts every target of every example exactly once (2 + 4 + 1 + 2 = 9 targets).
  EXPECT_EQ(loss_tokens, 9);
  EXPECT_DOUBLE_EQ(loader.epochs_done(), 1.0);
}

TEST(PackedLoaderDocumentsTest, LongExamplesAreCutAndEpochsResumeExactly) {
  std::vector<Example> examples = Distinct(20);  // lengths 1..9; the one-token ones are dropped
  auto options = ExampleRows(jobs::DataPacking::kDocuments, 6, 2);
  PackedLoader loader = MakeLoader(examples, options);
  std::vector<Batch> batches;
  for (int s = 0; s < 25; ++s) batches.push_back(loader.Next());  // several epochs
  EXPECT_GT(loader.epochs_done(), 2.0);
  for (const Batch& b : batches) {
    for (int64_t r = 0; r < b.rows; ++r) {
      EXPECT_LE(b.lengths[static_cast<size_t>(r)], 6);
      EXPECT_GT(b.lengths[static_cast<size_t>(r)], 0);
    }
  }
  PackedLoader resumed = MakeLoader(examples, options);
  resumed.SeekToStep(17);
  for (int s = 17; s < 25; ++s) {
    Batch b = resumed.Next();
    EXPECT_EQ(b.input_ids, batches[static_cast<size_t>(s)].input_ids) << "step " << s;
    EXPECT_EQ(b.labels, batches[static_cast<size_t>(s)].labels) << "step " << s;
    EXPECT_EQ(b.document_ids, batches[static_cast<size_t>(s)].document_ids) << "step " << s;
  }
}

TEST(PackedLoaderPadTest, OneExamplePerRowRightPaddedWithoutDocumentIds) {
  std::vector<Example> examples = {Make({1, 2, 3}), Make({5}), Make({4, 5, 6, 7, 8, 9})};
  PackedLoader loader = MakeLoader(examples, ExampleRows(jobs::DataPacking::kPad, 4, 2));
  EXPECT_EQ(loader.rows_per_epoch(), 2);  // the one-token example has no row
  Batch b = loader.Next();
  EXPECT_TRUE(b.document_ids.empty());
  const std::vector<int64_t> order = ShuffledIndices(2, EpochSeed(3, 0));
  const std::vector<int64_t> short_row = {1, 2, -7, -7}, long_row = {4, 5, 6, 7};
  EXPECT_EQ(Row(b.input_ids, 4, 0), order[0] == 0 ? short_row : long_row);
  EXPECT_EQ(Row(b.input_ids, 4, 1), order[0] == 0 ? long_row : short_row);
  EXPECT_EQ(b.tokens, 6);
  EXPECT_EQ(b.loss_tokens, 6);
  auto none = PackedLoader::Create({Make({1})}, ExampleRows(jobs::DataPacking::kPad, 4, 1));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("packing: pad"), std::string::npos)
      << none.status().message();
}

}  // namespace
}  // namespace lf::worker
