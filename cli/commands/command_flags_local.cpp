// The flags of the commands that run one job on this machine: inspect, train, pretrain, eval,
// tokenize, generate, merge.
#include "cli/commands/command_flags.h"

namespace lf::cli {

using flags::IntAtLeast;
using flags::MakeApp;

AppPtr InspectApp(InspectFlags& f) {
  AppPtr app = MakeApp("lorafleet inspect",
                       "List the tensors, dtypes, shapes and metadata of a safetensors file, "
                       "after checking it the way every lorafleet reader does.");
  app->add_option("FILE.safetensors", f.file, "the file")->required();
  app->add_flag("--json", f.json, "machine-readable output");
  return app;
}

AppPtr TrainApp(TrainFlags& f) {
  AppPtr app = MakeApp("lorafleet train",
                       "Train one adapter on this machine, no daemon. SIGINT/SIGTERM finish the "
                       "step and checkpoint; the same command continues from there.");
  app->add_option("JOB.yaml", f.job, "the job file (docs/training.md)")->required();
  app->add_option("--out", f.out, "output folder, instead of the job's `output`")
      ->type_name("DIR");
  app->add_flag("--no-resume", f.no_resume, "start over rather than from the last checkpoint");
  app->add_flag("--quiet", f.quiet, "no progress lines");
  app->add_flag("--json", f.json, "print the result as JSON");
  return app;
}

PretrainFlags::PretrainFlags() {
  jobs::TrainSpec& t = spec.train;
  t.steps = 1000;
  t.batch_size = 16;
  t.lr = 1e-3;
  t.schedule = jobs::Schedule::kCosine;
}

AppPtr PretrainApp(PretrainFlags& f) {
  AppPtr app = MakeApp("lorafleet pretrain",
                       "Train a small base model from scratch (GPT-2 or Llama architecture) on a "
                       "JSONL file; the output folder loads like a Hugging Face model.");
  worker::PretrainSpec& s = f.spec;
  jobs::TrainSpec& t = s.train;
  app->add_option("--data", s.data, "training data (text, prompt/completion or chat lines)")
      ->type_name("FILE.jsonl")
      ->required();
  app->add_option("--out", s.output, "the model folder to write")->type_name("DIR")->required();
  app->add_option("--eval", s.eval, "evaluation data")->type_name("FILE.jsonl");
  app->add_option("--arch", s.arch, "gpt2 or llama (RMSNorm, rotary, grouped-query)");
  app->add_option("--tokenizer", s.tokenizer,
                  "a Hugging Face folder whose tokenizer the model gets (default: byte-level)")
      ->type_name("MODEL_DIR");
  app->add_option("--layers", s.layers, "transformer blocks")->check(IntAtLeast(1));
  app->add_option("--hidden", s.hidden, "hidden size, at least 8")->check(IntAtLeast(8));
  app->add_option("--heads", s.heads, "attention heads")->check(IntAtLeast(1));
  app->add_option("--kv-heads", s.kv_heads, "llama: key/value heads; 0: --heads")
      ->check(IntAtLeast(0));
  app->add_option("--intermediate", s.intermediate,
                  "llama: MLP size; 0: 8/3 * hidden, rounded up to a multiple of 32")
      ->check(IntAtLeast(0));
  app->add_option("--seq-len", s.seq_len, "tokens per sequence, at least 2")->check(IntAtLeast(2));
  app->add_option("--steps", t.steps, "optimizer steps")->check(IntAtLeast(1));
  app->add_option("--batch-size", t.batch_size, "sequences per step")->check(IntAtLeast(1));
  app->add_option("--lr", t.lr, "peak learning rate, > 0")->check(flags::PositiveNumber());
  app->add_option("--warmup", f.warmup, "steps of linear warmup (default: steps / 20)")
      ->check(IntAtLeast(0));
  app->add_option("--schedule", f.schedule, "constant, linear or cosine (default: cosine)");
  app->add_option("--seed", t.seed, "random seed")->check(IntAtLeast(0));
  app->add_option("--eval-every", t.eval_every, "steps between evaluations; 0: at the end")
      ->check(IntAtLeast(0));
  app->add_option("--checkpoint-every", t.checkpoint_every, "steps between checkpoints; 0: none")
      ->check(IntAtLeast(0));
  app->add_flag("--no-resume", f.no_resume, "start over rather than from the last checkpoint");
  app->add_flag("--quiet", f.quiet, "no progress lines");
  app->add_flag("--json", f.json, "print the result as JSON");
  return app;
}

AppPtr EvalApp(EvalFlags& f) {
  AppPtr app = MakeApp("lorafleet eval",
                       "Mean next-token loss and perplexity of a model (with an adapter) on a "
                       "JSONL file.");
  app->add_option("--base", f.base, "the base model folder")->type_name("DIR")->required();
  app->add_option("--adapter", f.adapter, "an adapter folder to apply")->type_name("DIR");
  app->add_option("--data", f.data, "the lines to score")->type_name("FILE.jsonl")->required();
  app->add_option("--logits", f.logits, "write the first line's logits here, for comparisons")
      ->type_name("OUT.safetensors");
  app->add_flag("--json", f.json, "machine-readable output");
  return app;
}

AppPtr TokenizeApp(TokenizeFlags& f) {
  AppPtr app = MakeApp("lorafleet tokenize", "Print the token ids of the text on stdin.");
  app->add_option("--tokenizer", f.tokenizer, "a model folder with a tokenizer")
      ->type_name("DIR")
      ->required();
  app->add_flag("--json", f.json, "a JSON array");
  return app;
}

AppPtr GenerateApp(GenerateFlags& f) {
  AppPtr app = MakeApp("lorafleet generate",
                       "Greedy continuation of a prompt, once per adapter, with one loaded base.");
  app->add_option("--base", f.base, "the base model folder")->type_name("DIR")->required();
  app->add_option("--adapter", f.adapters, "an adapter folder; repeat for several")
      ->type_name("DIR");
  app->add_option("--prompt", f.prompt, "the text to continue")->type_name("TEXT")->required();
  app->add_option("--max-new-tokens", f.max_new_tokens, "tokens to generate")
      ->check(IntAtLeast(1));
  app->add_flag("--chat", f.chat,
                "the prompt is a user message, rendered with the model's chat template");
  return app;
}

AppPtr MergeApp(MergeFlags& f) {
  AppPtr app = MakeApp("lorafleet merge",
                       "Fold an adapter into its base model and save a Hugging Face folder.");
  app->add_option("--base", f.base, "the base model folder")->type_name("DIR")->required();
  app->add_option("--adapter", f.adapter, "the adapter folder")->type_name("DIR")->required();
  app->add_option("--out", f.out, "the merged model folder to write")
      ->type_name("DIR")
      ->required();
  return app;
}

}  // namespace lf::cli
