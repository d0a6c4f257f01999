// QLoRA (Dettmers et al. 2023) as bitsandbytes' load_in_4bit plus PEFT's LoRA: creating the
// adapter quantises every linear module of the transformer blocks (not the embeddings or the
// LM head) to NF4 and frees their dense weights; the adapter then owns those NF4 tensors and
// computes each base output with kernels::Nf4Linear (dequantised on the fly in forward and
// backward), with LoRA's A and B (trainable, in the compute dtype) on top. From then on the
// model computes its linear layers only through this adapter. It exports as a plain PEFT LoRA
// adapter, which loads on the full-precision base.
#pragma once

#include <cstdint>
#include <optional>

#include "worker/peft/adapter.h"

namespace lf::worker {

// Errors name job.qlora: a target or layer the model lacks, or a linear module whose size is not
// a multiple of block_size. On error the model is left as it was.
Result<std::unique_ptr<Adapter>> CreateQlora(CausalLm& model, const jobs::QloraSpec& spec,
                                             uint64_t seed);

// What the quantised base linear weights occupy: NF4 codes plus absmax (or their 8-bit codes,
// group scales and offset), over how many parameters in how many modules.
struct QuantizedBase {
  int64_t bytes = 0;
  int64_t params = 0;
  int64_t modules = 0;
  double bytes_per_param() const { return params > 0 ? static_cast<double>(bytes) / params : 0; }
};
// For an adapter CreateQlora made; nullopt for any other method.
std::optional<QuantizedBase> QuantizedBaseOf(const Adapter& adapter);

}  // namespace lf::worker
