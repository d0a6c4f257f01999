// Internal to the HTTP server: one accepted connection (Session) and the state the server shares
// with its connections. A Session owns its socket and runs entirely on its own strand; the
// ServerState's session list is guarded by its mutex so Stop can reach every open connection.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "coordinator/api/http_server.h"

namespace lf::api::internal {

class Session;

inline constexpr uint32_t kHeaderLimit = 64 << 10;  // bytes of request line and headers

// The HttpRequest handlers see for a request header Beast parsed: the target split and
// percent-decoded (InvalidArgument when it is malformed), header names lower-cased with repeats
// joined by ", "; the body is added once read. The fuzz target (tests/fuzz/http_fuzz.cpp) calls
// it too, so that it feeds admission and the router exactly what a Session does.
Status ToHttpRequest(const boost::beast::http::request_header<>& header, const std::string& peer,
                     HttpRequest& request);

struct ServerState {
  ServerState(boost::asio::io_context& io_context, Router routes, HttpServerOptions opts);

  boost::asio::io_context& io;
  boost::asio::ip::tcp::acceptor acceptor;  // on its own strand
  boost::asio::steady_timer accept_retry;   // same strand as the acceptor
  const Router router;
  const HttpServerOptions options;
  std::string name;  // "127.0.0.1:7070", with the bound port
  uint16_t port = 0;

  std::mutex mutex;
  bool stopped = false;                                           // guarded by mutex
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;  // guarded by mutex
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerState> server);
  ~Session();

  void Start();  // begins reading requests; the session keeps itself alive while it has work
  void Close();  // from any thread: queues closing the socket on the session's strand

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  void ReadHeader();
  void OnHeader(boost::beast::error_code ec);
  void ReadBody();
  void OnBody(boost::beast::error_code ec);
  void OnReadError(boost::beast::error_code ec);
  void HandleRequest();
  void Write(HttpResponse response, unsigned version, bool keep_alive, bool linger);
  void OnWrite(bool keep_alive, bool linger, boost::beast::error_code ec);
  void SendError(int status, std::string_view message);
  void Linger();
  void Drain();
  void CloseNow();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  Response response_;  // must live until its async_write completes
  std::shared_ptr<ServerState> server_;
  std::string peer_;
  HttpRequest head_;  // the current request's method, target, headers and user, body aside
  size_t drained_ = 0;
  bool closed_ = false;  // by Stop or an error: start no more operations
};

}  // namespace lf::api::internal
