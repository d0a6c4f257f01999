// Status and Result<T>: how every fallible lorafleet call reports what went wrong, where, and what
// to do about it. A Status is cheap to pass by value when ok (no allocation). Exceptions thrown by
// third-party libraries (LibTorch, Boost, cppzmq, yaml-cpp) are caught at the edge of the file that
// calls them and turned into a Status. Thread-safety: values, no shared state.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace lf {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong: a bad field, value or file
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // creating something whose id or name is taken
  kFailedPrecondition,  // the system is not in a state that allows this (e.g. illegal transition)
  kConflict,            // a compare-and-set lost: someone else changed the thing first
  kDataLoss,            // stored or read bytes are corrupt (checksum, truncation)
  kUnavailable,         // transient: a peer or resource is not reachable now; retrying may help
  kResourceExhausted,   // out of memory, disk, or a configured limit
  kUnimplemented,       // a feature this build does not have (e.g. CUDA in a CPU build)
  kCancelled,
  kDeadlineExceeded,
  kInternal,            // a bug or an unexpected failure of a library we call
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  // The message alone, without the code's name; empty when ok.
  const std::string& message() const;
  // "InvalidArgument: sweep.lora.r: expected a positive integer, got 0".
  std::string ToString() const;
  // The input field the error is about, as data ("sweep.space.lora.r[2]"), so callers (the HTTP
  // API's "field") need not take it back out of the message; empty when none. The message still
  // names it for people.
  const std::string& field() const;
  // A copy that names `field` (the message is unchanged).
  Status WithField(std::string field) const;

  // Returns a copy whose message is "<context>: <message>", keeping the code and field. Used to add where
  // an error happened as it travels up ("reading /data/x.jsonl: line 3: ...").
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct State {
    StatusCode code;
    std::string message;
    std::string field;
  };
  std::shared_ptr<const State> state_;  // null when ok; shared so copies are cheap
};

// Short constructors: InvalidArgument("...") reads better than Status(StatusCode::k..., "...").
Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status AlreadyExists(std::string message);
Status FailedPrecondition(std::string message);
Status Conflict(std::string message);
Status DataLoss(std::string message);
Status Unavailable(std::string message);
Status ResourceExhausted(std::string message);
Status Unimplemented(std::string message);
Status Cancelled(std::string message);
Status DeadlineExceeded(std::string message);
Status Internal(std::string message);

// Either a T or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> makes no sense");

 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Internal("Result constructed from an ok Status without a value");
  }
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, Status> &&
                                                    !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // Accessing the value of a failed Result is a bug: it aborts with the status and file:line.
  T& value() & {
    CheckOk();
    return *value_;
  }
  const T& value() const& {
    CheckOk();
    return *value_;
  }
  T&& value() && {
    CheckOk();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }

 private:
  void CheckOk() const;
  Status status_;
  std::optional<T> value_;
};

namespace internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const std::string& message);
}  // namespace internal

template <typename T>
void Result<T>::CheckOk() const {
  if (!value_.has_value()) {
    internal::CheckFailed(__FILE__, __LINE__, "Result::ok()", status_.ToString());
  }
}

}  // namespace lf

#define LF_STATUS_CONCAT_INNER(a, b) a##b
#define LF_STATUS_CONCAT(a, b) LF_STATUS_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` (a Status or Result) is not ok.
#define LF_RETURN_IF_ERROR(expr)                                         \
  do {                                                                   \
    auto&& lf_status_or_result_ = (expr);                                \
    if (!lf_status_or_result_.ok()) {                                    \
      return ::lf::internal::StatusOf(lf_status_or_result_);             \
    }                                                                    \
  } while (false)

// LF_ASSIGN_OR_RETURN(auto x, ComputeX()); declares/assigns x or returns the error.
#define LF_ASSIGN_OR_RETURN(lhs, expr) \
  LF_ASSIGN_OR_RETURN_IMPL(LF_STATUS_CONCAT(lf_result_, __LINE__), lhs, expr)
#define LF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()

// A broken invariant (a bug, not bad input): abort with file:line and the condition.
#define LF_CHECK(cond)                                                  \
  do {                                                                  \
    if (!(cond)) ::lf::internal::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (false)
#define LF_CHECK_MSG(cond, msg)                                          \
  do {                                                                   \
    if (!(cond)) ::lf::internal::CheckFailed(__FILE__, __LINE__, #cond, (msg)); \
  } while (false)
// Aborts when a Status or Result that must succeed (e.g. in tests' set-up or a proven invariant)
// does not.
#define LF_CHECK_OK(expr)                                                          \
  do {                                                                             \
    auto&& lf_check_ok_ = (expr);                                                  \
    if (!lf_check_ok_.ok())                                                        \
      ::lf::internal::CheckFailed(__FILE__, __LINE__, #expr,                       \
                                  ::lf::internal::StatusOf(lf_check_ok_).ToString()); \
  } while (false)

namespace lf::internal {
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
const Status& StatusOf(const Result<T>& r) {
  return r.status();
}
}  // namespace lf::internal
