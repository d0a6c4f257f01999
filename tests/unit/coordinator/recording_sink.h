// What the coordinator would send to workers, kept for the test to read: the in-process
// transport of the coordinator tests.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "coordinator/coordinator.h"

namespace lf::coordinator::testing {

class RecordingSink : public WorkerSink {
 public:
  void Send(const std::string& worker, const protocol::Message& message) override {
    sent.emplace_back(worker, message);
  }
  // The messages of type T sent to `worker`, removed from `sent`.
  template <typename T>
  std::vector<T> Take(const std::string& worker) {
    std::vector<T> out;
    for (auto it = sent.begin(); it != sent.end();) {
      if (it->first == worker && std::holds_alternative<T>(it->second)) {
        out.push_back(std::get<T>(it->second));
        it = sent.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }
  std::vector<std::pair<std::string, protocol::Message>> sent;
};

}  // namespace lf::coordinator::testing
