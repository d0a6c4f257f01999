#include "common/ids.h"

#include <cstdio>

namespace lf {
namespace {

constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";  // Crockford base32, lowercase

int DecodeChar(char c) {
  for (int i = 0; i < 32; ++i) {
    if (kAlphabet[i] == c) return i;
  }
  return -1;
}

}  // namespace

IdGenerator::IdGenerator(const Clock& clock) : IdGenerator(clock, std::random_device{}()) {}

IdGenerator::IdGenerator(const Clock& clock, uint64_t seed) : clock_(clock), rng_(seed) {}

std::string IdGenerator::NextSweepId() {
  std::lock_guard lock(mu_);
  int64_t now = clock_.NowMillis();
  if (now <= last_millis_) {
    // Same (or an earlier, if the wall clock stepped back) millisecond: keep the last time and
    // increment the 80-bit random part, so ids stay strictly increasing.
    now = last_millis_;
    if (++random_lo_ == 0) random_hi_ = (random_hi_ + 1) & 0xffff;
  } else {
    last_millis_ = now;
    random_lo_ = rng_();
    random_hi_ = rng_() & 0x7fff;  // top bit clear: room for 2^79 increments within one ms
  }
  std::string id(kSweepIdLength, '0');
  uint64_t t = static_cast<uint64_t>(now) & ((uint64_t{1} << 48) - 1);
  for (int i = 9; i >= 0; --i) {  // 10 chars = 50 bits; the top 2 are zero
    id[i] = kAlphabet[t & 31];
    t >>= 5;
  }
  // 80 random bits as 16 chars: hi (16 bits) then lo (64 bits), most significant first.
  uint64_t hi = random_hi_, lo = random_lo_;
  for (int i = 25; i >= 10; --i) {
    id[i] = kAlphabet[lo & 31];
    lo = (lo >> 5) | (hi << 59);
    hi >>= 5;
  }
  return id;
}

std::string NewSweepId() {
  static IdGenerator generator;
  return generator.NextSweepId();
}

std::string MakeTrialId(std::string_view sweep_id, uint32_t index) {
  LF_CHECK_MSG(index <= kMaxTrialsPerSweep, "trial index " + std::to_string(index));
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "-%06u", index);
  return std::string(sweep_id) + suffix;
}

Status ValidateSweepId(std::string_view id) {
  if (id.size() != kSweepIdLength) {
    return InvalidArgument("sweep id '" + std::string(id) + "' must be " +
                           std::to_string(kSweepIdLength) + " characters long, not " +
                           std::to_string(id.size()));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    if (DecodeChar(id[i]) < 0) {
      return InvalidArgument("sweep id '" + std::string(id) + "' has '" + std::string(1, id[i]) +
                             "' at position " + std::to_string(i) +
                             "; ids use the characters 0-9 and a-z without i, l, o, u");
    }
  }
  if (DecodeChar(id[0]) > 7) {
    return InvalidArgument("sweep id '" + std::string(id) + "' encodes a time past the year 10889");
  }
  return Status::Ok();
}

Result<TrialIdParts> ParseTrialId(std::string_view id) {
  const size_t expected = kSweepIdLength + 7;
  if (id.size() != expected || id[kSweepIdLength] != '-') {
    return InvalidArgument("trial id '" + std::string(id) +
                           "' must be a sweep id, '-', and a 6-digit index (e.g. " +
                           "01jd8x5k2c0000000000000000-000003)");
  }
  LF_RETURN_IF_ERROR(ValidateSweepId(id.substr(0, kSweepIdLength)));
  uint32_t index = 0;
  for (char c : id.substr(kSweepIdLength + 1)) {
    if (c < '0' || c > '9') {
      return InvalidArgument("trial id '" + std::string(id) + "' has a non-digit index");
    }
    index = index * 10 + static_cast<uint32_t>(c - '0');
  }
  return TrialIdParts{std::string(id.substr(0, kSweepIdLength)), index};
}

Result<int64_t> IdTimestampMillis(std::string_view id) {
  if (id.size() < kSweepIdLength) return InvalidArgument("id '" + std::string(id) + "' too short");
  LF_RETURN_IF_ERROR(ValidateSweepId(id.substr(0, kSweepIdLength)));
  int64_t t = 0;
  for (size_t i = 0; i < 10; ++i) t = (t << 5) | DecodeChar(id[i]);
  return t;
}

}  // namespace lf
