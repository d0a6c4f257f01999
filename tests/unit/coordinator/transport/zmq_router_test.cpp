// The worker port as an attacker or a broken peer sees it: frames that are not JSON, numbers
// beyond double's range, nesting a million deep, invalid UTF-8 routing ids. The router drops each
// with a log line and goes on receiving; none may throw into the daemon's event loop. With the
// fleet's CURVE keys, a peer without the worker key gets nothing through, and a second
// connection cannot take over a connected worker's routing id.
#include "coordinator/transport/zmq_router.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
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

std::string HelloFrame(const std::string& id) {
  return protocol::Encode(protocol::Hello{.worker_id = id, .host = "h"})[0];
}

// A DEALER with routing id `id`; with `keys`, a CURVE client presenting them.
zmq::socket_t Dealer(zmq::context_t& context, const std::string& endpoint, const std::string& id,
                     const std::optional<curve::WorkerKeys>& keys) {
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::routing_id, id);
  dealer.set(zmq::sockopt::linger, 0);
  if (keys) {
    dealer.set(zmq::sockopt::curve_serverkey, keys->coordinator_public);
    dealer.set(zmq::sockopt::curve_publickey, keys->worker.public_key);
    dealer.set(zmq::sockopt::curve_secretkey, keys->worker.secret_key);
  }
  dealer.connect(endpoint);
  return dealer;
}

TEST(ZmqRouterTest, WithCurveKeysOnlyTheFleetsWorkerKeyGetsThrough) {
  const std::string dir = ::testing::TempDir() + "/lf_router_keys";
  std::filesystem::remove_all(dir);
  auto keys = curve::LoadOrCreateKeys(dir);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  auto worker_keys = curve::ReadWorkerKeys(dir + "/worker.key");
  ASSERT_TRUE(worker_keys.ok());
  auto router = ZmqRouter::Bind("tcp://127.0.0.1:0", *keys);
  ASSERT_TRUE(router.ok()) << router.status().ToString();
  const std::string endpoint = (*router)->endpoint();
  zmq::context_t context;

  // Knows the coordinator's public key but holds a key pair of its own making.
  curve::WorkerKeys forged = *worker_keys;
  forged.worker = *curve::NewKeyPair();
  zmq::socket_t impostor = Dealer(context, endpoint, "evil/0/1", forged);
  impostor.send(zmq::buffer(HelloFrame("evil/0/1")), zmq::send_flags::dontwait);
  // No CURVE at all: the handshake fails before any frame.
  zmq::socket_t plain = Dealer(context, endpoint, "plain/0/1", std::nullopt);
  plain.send(zmq::buffer(HelloFrame("plain/0/1")), zmq::send_flags::dontwait);
  EXPECT_FALSE(Receive(**router).has_value()) << "a peer without the worker key got through";
  EXPECT_GE((*router)->refused(), 1u);

  zmq::socket_t worker = Dealer(context, endpoint, "host/0/1", *worker_keys);
  worker.send(zmq::buffer(HelloFrame("host/0/1")), zmq::send_flags::none);
  auto received = Receive(**router);
  ASSERT_TRUE(received.has_value()) << "the fleet's worker was refused";
  EXPECT_EQ(received->first, "host/0/1");
  (*router)->Send("host/0/1", protocol::Welcome{.heartbeat_interval_ms = 7});
  zmq::message_t reply;
  worker.set(zmq::sockopt::rcvtimeo, 2000);
  ASSERT_TRUE(worker.recv(reply)) << "the coordinator's reply did not reach the worker";
  EXPECT_NE(reply.to_string().find("WELCOME"), std::string::npos);
  EXPECT_EQ((*router)->received(), 1u) << "the refused peers' frames were counted as received";
}

TEST(ZmqRouterTest, AConnectedWorkersRoutingIdCannotBeTakenOver) {
  auto router = ZmqRouter::Bind("tcp://127.0.0.1:0");
  ASSERT_TRUE(router.ok()) << router.status().ToString();
  zmq::context_t context;
  zmq::socket_t owner = Dealer(context, (*router)->endpoint(), "host/0/1", std::nullopt);
  owner.send(zmq::buffer(HelloFrame("host/0/1")), zmq::send_flags::none);
  ASSERT_TRUE(Receive(**router).has_value());

  zmq::socket_t thief = Dealer(context, (*router)->endpoint(), "host/0/1", std::nullopt);
  thief.set(zmq::sockopt::rcvtimeo, 300);
  thief.send(zmq::buffer(HelloFrame("host/0/1")), zmq::send_flags::none);
  EXPECT_FALSE(Receive(**router).has_value()) << "a second connection spoke as host/0/1";
  // Replies still go to the first connection, not the thief.
  (*router)->Send("host/0/1", protocol::Welcome{.heartbeat_interval_ms = 7});
  zmq::message_t reply;
  owner.set(zmq::sockopt::rcvtimeo, 2000);
  EXPECT_TRUE(owner.recv(reply));
  EXPECT_FALSE(thief.recv(reply)) << "the thief received the worker's messages";
  owner.send(zmq::buffer(HelloFrame("host/0/1")), zmq::send_flags::none);
  EXPECT_TRUE(Receive(**router).has_value()) << "the owner was cut off";
}

TEST(ZmqRouterTest, AFrameOverTheLimitEndsTheConnectionNotTheDaemon) {
  auto router = ZmqRouter::Bind("tcp://127.0.0.1:0", std::nullopt, /*max_frame_bytes=*/1 << 20);
  ASSERT_TRUE(router.ok());
  zmq::context_t context;
  zmq::socket_t big = Dealer(context, (*router)->endpoint(), "big/0/1", std::nullopt);
  big.send(zmq::buffer(std::string((1 << 20) + 1, 'x')), zmq::send_flags::none);
  // Under the frame limit but a JSON frame over its own: dropped unparsed.
  auto wide = ZmqRouter::Bind("tcp://127.0.0.1:0");
  ASSERT_TRUE(wide.ok());
  zmq::socket_t json = Dealer(context, (*wide)->endpoint(), "json/0/1", std::nullopt);
  const std::string padded = R"({"v": 1, "type": "HELLO", "pad": ")" +
                             std::string(ZmqRouter::kMaxJsonFrameBytes, ' ') + R"("})";
  json.send(zmq::buffer(padded), zmq::send_flags::none);
  EXPECT_FALSE(Receive(**wide).has_value()) << "a JSON frame over 16 MiB was decoded";
  EXPECT_EQ((*wide)->received(), 1u);
  zmq::socket_t worker = Dealer(context, (*router)->endpoint(), "host/0/1", std::nullopt);
  worker.send(zmq::buffer(HelloFrame("host/0/1")), zmq::send_flags::none);
  auto received = Receive(**router);
  ASSERT_TRUE(received.has_value());
  EXPECT_EQ(received->first, "host/0/1");
  EXPECT_FALSE(Receive(**router).has_value()) << "the oversized frame was delivered";
}

}  // namespace
}  // namespace lf::coordinator
