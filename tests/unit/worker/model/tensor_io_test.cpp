#include "worker/model/tensor_io.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace lf::worker {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / ("lf_tensor_io_" + name)).string();
}

TEST(TensorIoTest, RoundTripsEveryTorchDtypeThroughAFile) {
  torch::manual_seed(0);
  std::map<std::string, torch::Tensor> tensors = {
      {"f32", torch::randn({3, 5})},
      {"f16", torch::randn({4}).to(torch::kHalf)},
      {"bf16", torch::randn({2, 2, 2}).to(torch::kBFloat16)},
      {"f64", torch::randn({1}).to(torch::kDouble)},
      {"i64", torch::arange(10)},
      {"i32", torch::arange(6).to(torch::kInt).reshape({2, 3})},
      {"u8", torch::arange(200, 210).to(torch::kByte)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 4})},
      {"strided", torch::randn({4, 6}).t()},  // not contiguous: written in logical order
  };
  std::string path = TempPath("roundtrip.safetensors");
  ASSERT_TRUE(SaveTensors(tensors, path).ok());
  auto file = safetensors::File::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->metadata().at("format"), "pt");
  auto loaded = LoadAllTensors(*file);
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    const torch::Tensor& back = loaded->at(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
}

TEST(TensorIoTest, ViewSharesTheFileAndOutlivesIt) {
  torch::Tensor w = torch::randn({64, 64});
  auto bytes = SerializeTensors({{"w", w}});
  ASSERT_TRUE(bytes.ok());
  torch::Tensor view;
  {
    auto file = safetensors::File::FromBytes(*bytes);
    ASSERT_TRUE(file.ok());
    auto v = ViewTensor(*file, "w");
    ASSERT_TRUE(v.ok());
    view = *v;
    auto tv = file->Get("w").value();
    EXPECT_EQ(view.data_ptr(), static_cast<const void*>(tv.data.data()));  // no copy
  }
  EXPECT_TRUE(torch::equal(view, w));  // the File is gone; the tensor keeps its memory alive
}

TEST(TensorIoTest, ErrorsNameTheTensor) {
  auto file = safetensors::File::FromBytes(*SerializeTensors({{"a", torch::ones({2})}}));
  ASSERT_TRUE(file.ok());
  auto missing = LoadTensor(*file, "model.layers.0.q_proj.weight");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("model.layers.0.q_proj.weight"), std::string::npos);
  auto undefined = SerializeTensors({{"x", torch::Tensor()}});
  EXPECT_FALSE(undefined.ok());
}

}  // namespace
}  // namespace lf::worker
