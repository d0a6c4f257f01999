// The coordinator's HTTP/1.1 server (Boost.Beast): accepts on one port, reads each request with
// a size limit and a timeout, hands it to a Router and writes the reply, keeping connections
// alive when the client asks. Runs on a caller-owned io_context: handlers run on whichever thread
// runs it (one connection's requests one at a time, on a strand), so a handler that blocks holds
// that thread; run io on several threads if handlers may block. Start/Stop/port are thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "common/status.h"
#include "coordinator/api/router.h"

namespace lf::api {
namespace internal {
struct ServerState;  // the acceptor and open connections, shared with in-flight operations
}  // namespace internal

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7070;                              // 0: the OS picks a free port (tests)
  size_t max_body_bytes = size_t{64} << 20;          // a larger body gets a 413 JSON error
  std::chrono::milliseconds request_timeout{30000};  // per request read/write, and keep-alive idle
  // Open connections at once; one more is answered 503 and closed, so a client that opens
  // sockets and never closes them cannot use up the daemon's file descriptors.
  size_t max_connections = 256;
  // Runs on each request's header before its body is read (api::Admit: Host, token,
  // Content-Type); a reply it returns is sent instead and the connection closed. It may fill in
  // request.user, which the handler then sees.
  std::function<std::optional<HttpResponse>(HttpRequest&)> admit;
};

class HttpServer {
 public:
  // Binds, listens and starts accepting on `io`; returns at once (the caller runs `io`). The
  // router is copied, so it need not outlive the server. A port in use is kUnavailable naming
  // host:port and what to do. Destroy the server before `io`.
  static Result<std::unique_ptr<HttpServer>> Start(boost::asio::io_context& io,
                                                   const Router& router, HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;  // the bound port (useful with options.port == 0)

  // Stops accepting and closes every open connection; requests in flight get no reply. It only
  // queues the work on `io`, so it may be called from any thread, a handler included, and more
  // than once; `io.run()` returns once the closes have run and nothing else is pending.
  void Stop();

 private:
  explicit HttpServer(std::shared_ptr<internal::ServerState> state);
  std::shared_ptr<internal::ServerState> state_;
};

}  // namespace lf::api
