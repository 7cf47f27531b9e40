#include "api/http_server.h"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <tuple>

namespace sundial::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

response json_error(int status, const std::string& message) {
  return response{status, "application/json", nlohmann::json{{"error", message}}.dump() + "\n", {}};
}

base::result<std::pair<std::string, int>> split_host_port(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return base::fail(base::errc::invalid_argument,
                      "\"" + address + "\" is not HOST:PORT (e.g. 127.0.0.1:8080)");
  }
  int port = 0;
  for (std::size_t i = colon + 1; i < address.size(); ++i) {
    if (address[i] < '0' || address[i] > '9' || port > 65535) {
      return base::fail(base::errc::invalid_argument,
                        "\"" + address + "\": the port is not a number 0-65535");
    }
    port = port * 10 + (address[i] - '0');
  }
  if (port > 65535)
    return base::fail(base::errc::invalid_argument, "\"" + address + "\": port out of range");
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return std::make_pair(host, port);
}

namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size() || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0) return std::nullopt;
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else if (plus_is_space && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A method label from a fixed set: clients may send any token as a method.
std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "OTHER";
}

// Closes a connection whose request was refused before its body was read (413, malformed).
// The client may still be sending: closing a socket with unread data makes the kernel answer
// with a reset, which can destroy the answer before the client reads it. So half-close first,
// then read and discard until the client closes, bounded in bytes and time.
void drain_and_close(tcp::socket& sock) {
  constexpr std::size_t max_drain_bytes = 64u << 20;
  constexpr auto max_drain_time = std::chrono::seconds(3);
  const int fd = sock.native_handle();
  ::shutdown(fd, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + max_drain_time;
  std::vector<char> buf(64 * 1024);
  std::size_t drained = 0;
  while (drained < max_drain_bytes) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) break;  // the client closed (or failed): nothing left to protect
    drained += static_cast<std::size_t>(n);
  }
  beast::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
  sock.close(ignored);
}

}  // namespace

struct http_server::impl {
  http_options opt;
  // path -> method -> handler
  std::map<std::string, std::map<std::string, handler>> exact;
  std::map<std::string, std::map<std::string, handler>> prefixes;
  std::vector<std::pair<std::string, std::string>> default_headers;
  request_observer observer;

  asio::io_context io;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};

  std::mutex mu;
  std::condition_variable cv;
  std::set<std::shared_ptr<tcp::socket>> sockets;
  std::size_t active = 0;

  struct match_result {
    std::string_view pattern = unmatched_route;  // points into exact/prefixes (stable)
    const std::map<std::string, handler>* methods = nullptr;
  };

  match_result match(const std::string& path) const {
    match_result m;
    if (auto it = exact.find(path); it != exact.end()) {
      m.pattern = it->first;
      m.methods = &it->second;
      return m;
    }
    std::size_t best = 0;
    for (const auto& [prefix, methods] : prefixes) {
      if (path.size() >= prefix.size() && path.compare(0, prefix.size(), prefix) == 0 &&
          prefix.size() > best) {
        best = prefix.size();
        m.pattern = prefix;
        m.methods = &methods;
      }
    }
    return m;
  }

  // Dkron's `?pretty`: a JSON answer indented for people (any route; off with false or 0).
  static response prettified(const request& req, response r) {
    auto it = req.query.find("pretty");
    if (it == req.query.end() || it->second == "false" || it->second == "0" ||
        r.content_type != "application/json")
      return r;
    auto doc = nlohmann::json::parse(r.body, nullptr, false);
    if (doc.is_discarded()) return r;
    r.body = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return r;
  }

  response dispatch(const request& req, const match_result& m) {
    if (!m.methods) return json_error(404, "no route for " + req.path);
    auto h = m.methods->find(req.method);
    if (h == m.methods->end()) {
      std::string allowed;
      for (const auto& [method, fn] : *m.methods)
        allowed += (allowed.empty() ? "" : ", ") + method;
      auto r = json_error(405, "method " + req.method + " is not allowed on " + req.path +
                                   " (allowed: " + allowed + ")");
      r.headers.emplace_back("Allow", allowed);
      return r;
    }
    try {
      return prettified(req, h->second(req));
    } catch (const std::exception& e) {
      spdlog::error("api: handler for {} {} threw: {}", req.method, req.path, e.what());
      return json_error(500, "internal error");
    }
  }

  void serve(std::shared_ptr<tcp::socket> sock) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    beast::error_code write_ec;
    bool body_unread = false;
    while (!stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(opt.max_body_bytes);
      parser.header_limit(16 * 1024);
      http::read(*sock, buffer, parser, ec);
      if (ec == http::error::end_of_stream || ec == asio::error::eof ||
          ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
          ec == asio::error::bad_descriptor) {
        break;
      }
      const auto began = std::chrono::steady_clock::now();
      response res;
      bool keep_alive = false;
      unsigned version = 11;
      std::string method = "OTHER";
      match_result route;
      if (ec == http::error::body_limit) {
        // The headers were read: the answer is counted under the route it was meant for.
        const std::string target(parser.get().target());
        if (auto path = percent_decode(target.substr(0, target.find('?')), false))
          route = match(*path);
        method = std::string(parser.get().method_string());
        res =
            json_error(413, "the request body is larger than the limit of " +
                                std::to_string(opt.max_body_bytes) + " bytes; nothing was changed");
        body_unread = true;
      } else if (ec) {
        res = json_error(400, "malformed HTTP request: " + ec.message());
        body_unread = true;
      } else {
        auto& msg = parser.get();
        keep_alive = msg.keep_alive();
        version = msg.version();
        request req;
        req.method = std::string(msg.method_string());
        method = req.method;
        const std::string target(msg.target());
        const auto q = target.find('?');
        auto path = percent_decode(target.substr(0, q), false);
        if (!path) {
          res = json_error(400, "malformed percent-encoding in the path");
        } else {
          req.path = *path;
          if (q != std::string::npos) {
            std::string_view rest(target);
            rest.remove_prefix(q + 1);
            while (!rest.empty()) {
              const auto amp = rest.find('&');
              const std::string_view part = rest.substr(0, amp);
              const auto eq = part.find('=');
              auto k = percent_decode(part.substr(0, eq), true);
              auto v = eq == std::string_view::npos ? std::optional<std::string>("")
                                                    : percent_decode(part.substr(eq + 1), true);
              if (k && v && !k->empty()) req.query[*k] = *v;
              if (amp == std::string_view::npos) break;
              rest.remove_prefix(amp + 1);
            }
          }
          for (const auto& f : msg) {
            std::string name(f.name_string());
            for (auto& c : name)
              c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            req.headers[name] = std::string(f.value());
          }
          req.body = std::move(msg.body());
          route = match(req.path);
          res = dispatch(req, route);
        }
      }
      if (observer) {
        observer(request_record{method_label(method), route.pattern, res.status,
                                std::chrono::steady_clock::now() - began});
      }
      http::response<http::string_body> out{static_cast<http::status>(res.status), version};
      out.set(http::field::server, "sundial");
      for (const auto& [k, v] : default_headers)
        out.set(k, v);
      out.set(http::field::content_type, res.content_type);
      for (const auto& [k, v] : res.headers)
        out.set(k, v);
      out.keep_alive(keep_alive);
      out.body() = std::move(res.body);
      out.prepare_payload();
      http::write(*sock, out, write_ec);
      if (write_ec || !keep_alive) break;
    }
    if (body_unread && !write_ec) {
      drain_and_close(*sock);
      return;
    }
    beast::error_code ignored;
    sock->shutdown(tcp::socket::shutdown_both, ignored);
    sock->close(ignored);
  }
};

http_server::http_server(http_options options) : impl_(std::make_unique<impl>()) {
  impl_->opt = options;
}

http_server::~http_server() {
  stop();
}

void http_server::route(const std::string& method, const std::string& path, handler h) {
  if (!path.empty() && path.back() == '/') {
    impl_->prefixes[path][method] = std::move(h);
  } else {
    impl_->exact[path][method] = std::move(h);
  }
}

std::vector<route_info> http_server::routes() const {
  std::vector<route_info> out;
  for (const auto* table : {&impl_->exact, &impl_->prefixes}) {
    for (const auto& [pattern, methods] : *table) {
      for (const auto& [method, h] : methods)
        out.push_back(route_info{method, pattern, table == &impl_->prefixes});
    }
  }
  std::sort(out.begin(), out.end(), [](const route_info& a, const route_info& b) {
    return std::tie(a.pattern, a.method) < std::tie(b.pattern, b.method);
  });
  return out;
}

void http_server::set_default_header(const std::string& name, const std::string& value) {
  for (auto& [k, v] : impl_->default_headers) {
    if (beast::iequals(k, name)) {
      v = value;
      return;
    }
  }
  impl_->default_headers.emplace_back(name, value);
}

void http_server::set_request_observer(request_observer observer) {
  impl_->observer = std::move(observer);
}

base::result<int> http_server::start(const std::string& address) {
  auto hp = split_host_port(address);
  if (!hp) return hp.err();
  beast::error_code ec;
  auto addr = asio::ip::make_address(hp->first, ec);
  if (ec)
    return base::fail(base::errc::invalid_argument, "\"" + hp->first + "\" is not an IP address");
  auto acc = std::make_unique<tcp::acceptor>(impl_->io);
  const tcp::endpoint ep(addr, static_cast<unsigned short>(hp->second));
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return base::fail(base::errc::io_error,
                      "cannot listen for HTTP on " + address + ": " + ec.message());
  const int port = acc->local_endpoint().port();
  impl_->acceptor = std::move(acc);
  impl_->accept_thread = std::thread([im = impl_.get()] {
    while (!im->stopping) {
      auto sock = std::make_shared<tcp::socket>(im->io);
      beast::error_code aec;
      im->acceptor->accept(*sock, aec);
      if (aec) {
        if (im->stopping) break;
        continue;
      }
      std::unique_lock lock(im->mu);
      if (im->active >= im->opt.max_connections) {
        lock.unlock();
        http::response<http::string_body> busy{http::status::service_unavailable, 11};
        for (const auto& [k, v] : im->default_headers)
          busy.set(k, v);
        busy.set(http::field::content_type, "application/json");
        busy.body() = "{\"error\":\"too many connections\"}\n";
        busy.prepare_payload();
        beast::error_code wec;
        http::write(*sock, busy, wec);
        continue;
      }
      ++im->active;
      im->sockets.insert(sock);
      lock.unlock();
      std::thread([im, sock] {
        im->serve(sock);
        std::lock_guard l(im->mu);
        im->sockets.erase(sock);
        --im->active;
        im->cv.notify_all();
      }).detach();
    }
  });
  return port;
}

void http_server::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  beast::error_code ec;
  if (impl_->acceptor) {
    // shutdown() on the listening socket wakes the thread blocked in accept() (Linux).
    ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);
    impl_->acceptor->close(ec);
  }
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  std::unique_lock lock(impl_->mu);
  for (const auto& s : impl_->sockets) {
    s->shutdown(tcp::socket::shutdown_both, ec);
  }
  impl_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return impl_->active == 0; });
}

}  // namespace sundial::api
