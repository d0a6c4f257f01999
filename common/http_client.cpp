#include "common/http_client.h"

#include <poll.h>

#include <cctype>
#include <exception>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace lf {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Url {
  std::string host;  // without IPv6 brackets, for the resolver
  std::string port = "80";
  std::string authority;  // as written, for the Host header
  std::string prefix;     // path in front of every target, without a trailing '/'
};

Result<Url> ParseBaseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("bad server URL '" + std::string(url) + "': " + std::string(why) +
                           "; expected http://HOST:PORT, e.g. http://127.0.0.1:7070");
  };
  if (url.substr(0, 8) == "https://") return bad("https is not supported");
  if (url.substr(0, 7) != "http://") return bad("it does not start with http://");
  std::string_view rest = url.substr(7);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (path.find_first_of("?# \r\n") != std::string_view::npos) {
    return bad("it has a query, a fragment or a space after the host");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) return bad("user names are not supported");
  Url out;
  out.authority = std::string(authority);
  out.prefix = std::string(path);
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {  // [::1]:7070
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address is missing its ']'");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return bad("unexpected text after ']'");
    has_port = !after.empty();
    if (has_port) port = after.substr(1);
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    has_port = colon != std::string_view::npos;
    if (has_port) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("no host");
  if (has_port) {
    bool digits = !port.empty() && port.size() <= 5 &&
                  port.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits || std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535) {
      return bad("the port is not a number from 1 to 65535");
    }
    out.port = std::string(port);
  }
  return out;
}

std::string Describe(beast::error_code ec) {
  if (ec == net::error::connection_refused) return "connection refused";
  if (ec == net::error::connection_reset) return "connection reset by the server";
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::broken_pipe) {
    return "the server closed the connection without replying";
  }
  std::string message = ec.message();
  if (!message.empty()) message[0] = static_cast<char>(std::tolower(message[0]));
  return message;
}

bool IsIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

// One connection (when open) to one server, and the calls made on it.
class Connection {
 public:
  Connection(std::string base_url, HttpClientOptions options)
      : base_url_(std::move(base_url)), options_(options) {
    Result<Url> url = ParseBaseUrl(base_url_);
    if (url.ok()) {
      url_ = std::move(url).value();
    } else {
      url_status_ = url.status();
    }
  }

  const std::string& base_url() const { return base_url_; }

  Result<HttpReply> Call(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view content_type, bool keep_alive) {
    LF_RETURN_IF_ERROR(url_status_);
    LF_RETURN_IF_ERROR(CheckRequest(method, target, content_type));
    try {
      return CallChecked(method, target, body, content_type, keep_alive);
    } catch (const std::exception& e) {  // allocation or resource failures inside Asio
      Disconnect();
      return Internal(base_url_ + ": " + std::string(method) + " " + std::string(target) +
                      ": unexpected failure: " + e.what());
    }
  }

 private:
  struct Outcome {
    beast::error_code ec;
    bool sent = false;  // the whole request was written
    bool got_reply_bytes = false;
    bool server_keeps_alive = false;
    HttpReply reply;
  };

  Status CheckRequest(std::string_view method, std::string_view target,
                      std::string_view content_type) const {
    if (method.empty() || method.find_first_of(" \t\r\n") != std::string_view::npos) {
      return InvalidArgument("bad HTTP method '" + std::string(method) + "'");
    }
    if (target.empty() || target.front() != '/' ||
        target.find_first_of(" \t\r\n") != std::string_view::npos) {
      return InvalidArgument("bad request target '" + std::string(target) +
                             "': it must start with '/' and have no spaces (see UrlEncode)");
    }
    if (content_type.find_first_of("\r\n") != std::string_view::npos) {
      return InvalidArgument("bad content type: it contains a line break");
    }
    return Status::Ok();
  }

  Result<HttpReply> CallChecked(std::string_view method, std::string_view target,
                                std::string_view body, std::string_view content_type,
                                bool keep_alive) {
    Clock::time_point deadline = Clock::now() + options_.timeout;
    bool reused = stream_.has_value() && Reusable();
    if (!reused) LF_RETURN_IF_ERROR(Connect(deadline));
    Outcome out = Exchange(method, target, body, content_type, keep_alive, deadline);
    // The server may close a kept-alive connection just as we reuse it. Nothing came back, so a
    // request it never fully got, or one that is safe to repeat, goes once more on a fresh one.
    if (out.ec && reused && !out.got_reply_bytes && out.ec != beast::error::timeout &&
        (!out.sent || IsIdempotent(method))) {
      LF_RETURN_IF_ERROR(Connect(deadline));
      out = Exchange(method, target, body, content_type, keep_alive, deadline);
    }
    if (out.ec) {
      Disconnect();
      return Failure(method, target, out.ec);
    }
    if (!keep_alive || !out.server_keeps_alive || !out.sent) Disconnect();
    return std::move(out.reply);
  }

  // Runs one asynchronous operation to completion on our private io_context; the tcp_stream's
  // deadline turns a stalled peer into beast::error::timeout.
  template <typename Initiate>
  beast::error_code Run(Initiate&& initiate) {
    beast::error_code result = net::error::would_block;
    initiate([&result](beast::error_code ec, auto&&...) { result = ec; });
    io_.restart();
    io_.run();
    return result;
  }

  Status Connect(Clock::time_point deadline) {
    Disconnect();
    beast::error_code ec;
    tcp::resolver resolver(io_);
    auto endpoints = resolver.resolve(url_.host, url_.port, ec);
    if (ec) {
      return Unavailable("cannot reach " + base_url_ + ": cannot resolve '" + url_.host +
                         "': " + Describe(ec));
    }
    stream_.emplace(io_);
    stream_->expires_at(deadline);
    ec = Run([&](auto handler) { stream_->async_connect(endpoints, std::move(handler)); });
    if (ec) {
      Disconnect();
      if (ec == beast::error::timeout) {
        return Unavailable("cannot reach " + base_url_ + ": no connection within " +
                           std::to_string(options_.timeout.count()) + " ms");
      }
      return Unavailable("cannot reach " + base_url_ + ": " + Describe(ec));
    }
    // Small requests go out at once instead of waiting on the peer's delayed ACK.
    stream_->socket().set_option(tcp::no_delay(true), ec);
    return Status::Ok();
  }

  // An idle kept-alive connection that has become readable was closed by the server (or got
  // bytes nobody asked for): either way it cannot carry another request.
  bool Reusable() {
    if (buffer_.size() != 0) return false;
    pollfd fd{stream_->socket().native_handle(), POLLIN, 0};
    return ::poll(&fd, 1, 0) == 0;
  }

  Outcome Exchange(std::string_view method, std::string_view target, std::string_view body,
                   std::string_view content_type, bool keep_alive, Clock::time_point deadline) {
    Outcome out;
    http::request<http::string_body> request;
    http::verb verb = http::string_to_verb(method);
    if (verb == http::verb::unknown) {
      request.method_string(method);
    } else {
      request.method(verb);
    }
    request.target(url_.prefix + std::string(target));
    request.version(11);
    request.set(http::field::host, url_.authority);
    request.set(http::field::user_agent, "lorafleet");
    if (!options_.bearer_token.empty()) {
      request.set(http::field::authorization, "Bearer " + options_.bearer_token);
    }
    if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
        verb == http::verb::patch) {
      request.set(http::field::content_type, content_type);
    }
    request.body() = std::string(body);
    request.keep_alive(keep_alive);
    request.prepare_payload();
    stream_->expires_at(deadline);
    out.ec = Run([&](auto handler) { http::async_write(*stream_, request, std::move(handler)); });
    out.sent = !out.ec;
    // A server that refuses a body (413) replies and closes without reading the rest, so our
    // write fails; its reply may still be waiting to be read.
    bool refused_midway =
        out.ec == net::error::broken_pipe || out.ec == net::error::connection_reset;
    if (out.ec && !refused_midway) return out;

    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_reply_bytes);
    if (verb == http::verb::head) parser.skip(true);
    out.ec =
        Run([&](auto handler) { http::async_read(*stream_, buffer_, parser, std::move(handler)); });
    out.got_reply_bytes = parser.got_some();
    if (out.ec) return out;
    if (refused_midway) out.ec = {};
    http::response<http::string_body>& response = parser.get();
    out.reply.status = static_cast<int>(response.result_int());
    out.reply.content_type = std::string(response[http::field::content_type]);
    out.reply.body = std::move(response.body());
    out.server_keeps_alive = response.keep_alive();
    return out;
  }

  Status Failure(std::string_view method, std::string_view target, beast::error_code ec) const {
    std::string where = base_url_ + ": " + std::string(method) + " " + std::string(target);
    if (ec == beast::error::timeout) {
      return Unavailable(where + ": no reply within " + std::to_string(options_.timeout.count()) +
                         " ms");
    }
    if (ec == http::error::body_limit) {
      return ResourceExhausted(where + ": the reply is larger than the client's limit of " +
                               std::to_string(options_.max_reply_bytes) + " bytes");
    }
    if (ec.category() == make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Unavailable(where + ": the reply is not valid HTTP (" + ec.message() + "); is " +
                         base_url_ + " a lorafleet coordinator?");
    }
    return Unavailable(where + ": " + Describe(ec));
  }

  void Disconnect() {
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_->close();
      stream_.reset();
    }
    buffer_.clear();
  }

  std::string base_url_;
  HttpClientOptions options_;
  Url url_;
  Status url_status_;
  net::io_context io_{1};  // private to this client; only the calling thread runs it
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace

class HttpClient::Impl : public Connection {
 public:
  using Connection::Connection;
};

Result<HttpReply> HttpCall(const std::string& base_url, std::string_view method,
                           std::string_view target, std::string_view body,
                           std::string_view content_type, HttpClientOptions options) {
  Connection client(base_url, options);
  return client.Call(method, target, body, content_type, /*keep_alive=*/false);
}

HttpClient::HttpClient(std::string base_url, HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(base_url), options)) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpReply> HttpClient::Call(std::string_view method, std::string_view target,
                                   std::string_view body, std::string_view content_type) {
  return impl_->Call(method, target, body, content_type, /*keep_alive=*/true);
}

const std::string& HttpClient::base_url() const { return impl_->base_url(); }

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace lf
