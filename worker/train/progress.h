// What a person sees while a job trains: a one-line progress bar on a terminal (step, loss,
// tokens/s, time left), or a log line every N steps when stderr is not a terminal.
// Used by one thread.
#pragma once

#include <cstdint>
#include <string>

namespace lf::worker {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total_steps, int64_t log_every, bool enabled);
  void Update(int64_t step, double loss, double tokens_per_s, double elapsed_s);
  void Message(const std::string& line);  // printed on its own line, above the bar
  void Finish();

 private:
  std::string label_;
  int64_t total_;
  int64_t log_every_;
  bool enabled_;
  bool tty_;
  bool drawn_ = false;
};

}  // namespace lf::worker
