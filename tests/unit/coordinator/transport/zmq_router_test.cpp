// The worker port as an attacker or a broken peer sees it: frames that are not JSON, numbers
// beyond double's range, nesting a million deep, invalid UTF-8 routing ids. The router drops each
// with a log line and goes on receiving; none may throw into the daemon's event loop.
#include "coordinator/transport/zmq_router.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <zmq.hpp>

namespace lf::coordinator {
namespace {

// Waits up to a second for the next decodable message.
std::optional<std::pair<std::string, protocol::Message>> Receive(ZmqRouter& router) {
  for (int i = 0; i < 200; ++i) {
    if (auto m = router.TryReceive()) return m;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

TEST(ZmqRouterTest, HostileFramesAreDroppedAndTheNextMessageStillArrives) {
  auto router = ZmqRouter::Bind("tcp://127.0.0.1:0");
  ASSERT_TRUE(router.ok()) << router.status().ToString();
  zmq::context_t context;
  const std::string hello = protocol::Encode(protocol::Hello{.worker_id = "w", .host = "h"})[0];
  // A routing id that is not UTF-8 never becomes a worker, even with a valid HELLO.
  zmq::socket_t stranger(context, zmq::socket_type::dealer);
  stranger.set(zmq::sockopt::routing_id, std::string("\xff\xfe-not-utf8", 12));
  stranger.connect((*router)->endpoint());
  stranger.send(zmq::buffer(hello), zmq::send_flags::none);

  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::routing_id, std::string("host/0/1"));
  dealer.connect((*router)->endpoint());
  const std::string hostile[] = {
      "not json",
      R"({"v": 1e999, "type": "HELLO"})",
      R"({"v": 1, "type": "PROGRESS", "trial_id": "t", "attempt": 1,
          "metrics": [[1, "loss", -1e400, 0]]})",
      std::string(1000000, '['),
      R"({"v": 1, "type": "DONE", "trial_id": "t", "attempt": 1, "result": {}, "files": ["a"]})",
      R"({"v": 1, "type": "NOPE"})",
      "",
  };
  for (const std::string& frame : hostile) dealer.send(zmq::buffer(frame), zmq::send_flags::none);
  dealer.send(zmq::buffer(hello), zmq::send_flags::none);

  auto received = Receive(**router);
  ASSERT_TRUE(received.has_value()) << "the valid HELLO after the hostile frames never arrived";
  EXPECT_TRUE(std::holds_alternative<protocol::Hello>(received->second));
  EXPECT_EQ(received->first, "host/0/1");
  EXPECT_FALSE(Receive(**router).has_value()) << "the stranger's HELLO was taken";
  EXPECT_EQ((*router)->received(), std::size(hostile) + 2);
}

}  // namespace
}  // namespace lf::coordinator
