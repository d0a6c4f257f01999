#include "coordinator/api/http_session.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "common/logging.h"

namespace lf::api::internal {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// After an error reply we read (and drop) what the client is still sending before closing, so
// the kernel does not answer its unread bytes with a reset that destroys our reply in flight.
constexpr size_t kMaxDrainBytes = size_t{4} << 20;
constexpr std::chrono::milliseconds kMaxDrainTime{2000};
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

std::string EndpointName(const tcp::endpoint& endpoint) {
  std::string address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

bool IsHttpParseError(beast::error_code ec) {
  return ec.category() == make_error_code(http::error::bad_target).category();
}

}  // namespace

Status ToHttpRequest(const http::request_header<>& header, const std::string& peer,
                     HttpRequest& request) {
  request.method = std::string(header.method_string());
  request.peer = peer;
  LF_RETURN_IF_ERROR(ParseRequestTarget(header.target(), request));
  for (const auto& field : header) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto [it, inserted] = request.headers.try_emplace(std::move(name), field.value());
    if (!inserted) (it->second += ", ") += field.value();
  }
  return Status::Ok();
}

ServerState::ServerState(net::io_context& io_context, Router routes, HttpServerOptions opts)
    : io(io_context),
      acceptor(net::make_strand(io_context)),
      accept_retry(acceptor.get_executor()),
      router(std::move(routes)),
      options(std::move(opts)) {}

Session::Session(tcp::socket socket, std::shared_ptr<ServerState> server)
    : stream_(std::move(socket)), server_(std::move(server)) {
  beast::error_code ec;
  tcp::endpoint endpoint = stream_.socket().remote_endpoint(ec);
  peer_ = ec ? "unknown peer" : EndpointName(endpoint);
  // Replies go out whole at once; Nagle would hold a keep-alive reply's tail for the peer's ACK.
  stream_.socket().set_option(tcp::no_delay(true), ec);
}

Session::~Session() {
  std::lock_guard<std::mutex> lock(server_->mutex);
  server_->sessions.erase(this);
}

void Session::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
}

void Session::Close() {
  net::post(stream_.get_executor(), [self = shared_from_this()] { self->CloseNow(); });
}

void Session::ReadHeader() {
  if (closed_) return;
  parser_.emplace();
  parser_->header_limit(kHeaderLimit);
  parser_->body_limit(server_->options.max_body_bytes);
  // One deadline covers an idle keep-alive wait plus the whole request, so a client that
  // trickles bytes cannot hold the connection open forever.
  stream_.expires_after(server_->options.request_timeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

void Session::OnHeader(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  // Everything the header decides (target, Host, token, Content-Type) is decided before a byte
  // of the body is read: a client without the token cannot make the daemon take 64 MiB.
  const auto& header = parser_->get();
  head_ = HttpRequest{};
  if (Status parsed = ToHttpRequest(header, peer_, head_); !parsed.ok()) {
    return SendError(400, parsed.message());
  }
  if (server_->options.admit) {
    if (std::optional<HttpResponse> refused = server_->options.admit(head_)) {
      LF_LOG_DEBUG("http {}: {} {} from {} refused: {}", server_->name, head_.method, head_.path,
                   peer_, refused->status);
      return Write(std::move(*refused), header.version(), false, /*linger=*/true);
    }
  }
  // curl asks before sending a body over 1 MiB and would otherwise wait a second for this.
  if (!parser_->is_done() && beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
    net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->CloseNow();
                       self->ReadBody();
                     });
    return;
  }
  ReadBody();
}

void Session::ReadBody() {
  if (parser_->is_done()) return HandleRequest();
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
}

void Session::OnBody(beast::error_code ec) {
  if (ec) return OnReadError(ec);
  HandleRequest();
}

void Session::OnReadError(beast::error_code ec) {
  if (ec == http::error::end_of_stream) {
    // The client closed between requests: the ordinary end of a keep-alive connection.
    return CloseNow();
  }
  if (ec == beast::error::timeout) {
    LF_LOG_DEBUG("http {}: dropped {}: no complete request within {} ms", server_->name, peer_,
                 server_->options.request_timeout.count());
    return CloseNow();
  }
  if (ec == http::error::body_limit) {
    return SendError(413, fmt::format("request body is larger than this server's limit of {} "
                                      "bytes; send a smaller body",
                                      server_->options.max_body_bytes));
  }
  if (ec == http::error::header_limit) {
    return SendError(431, fmt::format("request headers are larger than {} bytes", kHeaderLimit));
  }
  if (IsHttpParseError(ec) && ec != http::error::partial_message) {
    return SendError(400, "malformed HTTP request: " + ec.message());
  }
  // Reset, aborted by Stop, or the client went away mid-request: nobody to answer.
  if (ec != net::error::operation_aborted) {
    LF_LOG_DEBUG("http {}: connection from {} ended: {}", server_->name, peer_, ec.message());
  }
  CloseNow();
}

void Session::HandleRequest() {
  auto started = std::chrono::steady_clock::now();
  Request message = parser_->release();
  HttpRequest request = std::move(head_);
  request.body = std::move(message.body());
  HttpResponse response;
  try {
    response = server_->router.Dispatch(std::move(request));
  } catch (const std::exception& e) {  // Dispatch catches handlers' throws; this is a backstop
    response = ErrorResponse(500, std::string("internal error: ") + e.what());
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  LF_LOG_DEBUG("http {} {} {} -> {} ({} bytes, {:.1f} ms)", peer_, message.method_string(),
               message.target(), response.status, response.body.size(), ms);
  Write(std::move(response), message.version(), message.keep_alive(), false);
}

void Session::Write(HttpResponse response, unsigned version, bool keep_alive, bool linger) {
  if (closed_) return;
  if (response.status < 200 || response.status > 599) {
    LF_LOG_ERROR("http {}: a handler returned HTTP status {}; replying 500", server_->name,
                 response.status);
    response = ErrorResponse(500, "internal error: handler returned an invalid HTTP status");
  }
  response_ = Response(static_cast<http::status>(response.status), version);
  response_.set(http::field::server, "lorafleet");
  if (!response.content_type.empty())
    response_.set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) {
    // A CR or LF would let a value inject its own headers.
    if (name.find_first_of("\r\n:") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      LF_LOG_ERROR("http {}: dropped response header '{}' with a line break", server_->name, name);
      continue;
    }
    response_.insert(name, value);
  }
  // 204 and 304 must not carry a body, and Beast refuses to frame one.
  if (response.status == 204 || response.status == 304) response.body.clear();
  response_.body() = std::move(response.body);
  response_.keep_alive(keep_alive);
  response_.prepare_payload();
  stream_.expires_after(server_->options.request_timeout);
  http::async_write(stream_, response_,
                    [self = shared_from_this(), keep_alive, linger](beast::error_code ec, size_t) {
                      self->OnWrite(keep_alive, linger, ec);
                    });
}

void Session::OnWrite(bool keep_alive, bool linger, beast::error_code ec) {
  if (ec) return CloseNow();
  if (linger) return Linger();
  if (!keep_alive) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    return CloseNow();
  }
  ReadHeader();
}

void Session::SendError(int status, std::string_view message) {
  LF_LOG_DEBUG("http {}: {} from {}: {}", server_->name, status, peer_, message);
  Write(ErrorResponse(status, message), 11, false, true);
}

void Session::Linger() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.expires_after(std::min(server_->options.request_timeout, kMaxDrainTime));
  drained_ = 0;
  buffer_.clear();
  Drain();
}

void Session::Drain() {
  stream_.async_read_some(buffer_.prepare(16 << 10),
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            self->drained_ += n;
                            if (ec || self->drained_ > kMaxDrainBytes) return self->CloseNow();
                            self->Drain();
                          });
}

void Session::CloseNow() {
  closed_ = true;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
}

}  // namespace lf::api::internal
