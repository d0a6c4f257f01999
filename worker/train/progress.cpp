#include "worker/train/progress.h"

#include <unistd.h>

#include <cstdio>

#include "common/clock.h"

namespace lf::worker {

ProgressBar::ProgressBar(std::string label, int64_t total_steps, int64_t log_every, bool enabled)
    : label_(std::move(label)),
      total_(total_steps),
      log_every_(log_every),
      enabled_(enabled),
      tty_(::isatty(2) != 0) {}

void ProgressBar::Update(int64_t step, double loss, double tokens_per_s, double elapsed_s) {
  if (!enabled_) return;
  const double done = total_ > 0 ? static_cast<double>(step) / static_cast<double>(total_) : 1.0;
  const double left = step > 0 ? elapsed_s / static_cast<double>(step) *
                                     static_cast<double>(total_ - step)
                               : -1;
  if (tty_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(done * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(stderr, "\r%s [%s] step %lld/%lld  loss %.4f  %.0f tok/s  %s left   ",
                 label_.c_str(), bar.c_str(), static_cast<long long>(step),
                 static_cast<long long>(total_), loss, tokens_per_s, FormatDuration(left).c_str());
    drawn_ = true;
  } else if (step % log_every_ == 0 || step == total_) {
    std::fprintf(stderr, "%s step %lld/%lld loss %.4f %.0f tok/s %s left\n", label_.c_str(),
                 static_cast<long long>(step), static_cast<long long>(total_), loss, tokens_per_s,
                 FormatDuration(left).c_str());
  }
  std::fflush(stderr);
}

void ProgressBar::Message(const std::string& line) {
  if (!enabled_) return;
  if (tty_ && drawn_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (enabled_ && tty_ && drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace lf::worker
