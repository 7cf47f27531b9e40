#include "api/http_server.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <limits>
#include <random>
#include <sstream>
#include <tuple>

#include "api/http_internal.h"
#include "base/assert.h"

namespace sundial::api {

using detail::answer_sink;
using detail::header_list;
using detail::prepared_request;

std::int64_t detail::steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

response json_error(int status, const std::string& message) {
  return response{status,
                  "application/json",
                  nlohmann::json{{"error", message}}.dump(
                      -1, ' ', false, nlohmann::json::error_handler_t::replace) +
                      "\n",
                  {}};
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

// ---- responder and exchange ----

responder::responder(std::shared_ptr<exchange> ex) : ex_(std::move(ex)) {}

void responder::send(response r) const {
  ex_->finish(std::move(r));
}

void responder::send_from_server(std::function<response()> make) const {
  ex_->sink->post([ex = ex_, make = std::move(make)] {
    response r;
    try {
      r = make();
    } catch (const std::exception& e) {
      r = ex->server->guard_answer(ex->method, ex->route, e.what());
    } catch (...) {
      r = ex->server->guard_answer(ex->method, ex->route, "unknown exception");
    }
    ex->finish(std::move(r));
  });
}

std::shared_ptr<response_stream> responder::open_stream(int status, std::string content_type,
                                                        header_list headers, std::string heartbeat,
                                                        std::chrono::milliseconds every) const {
  if (ex_->answered.exchange(true)) return nullptr;
  if (ex_->server->observer) {
    ex_->server->observer(request_record{ex_->method, ex_->route, status,
                                         std::chrono::steady_clock::now() - ex_->began});
  }
  return ex_->sink->open_stream(status, std::move(content_type), std::move(headers),
                                std::move(heartbeat), every);
}

responder::exchange::~exchange() {
  // A server that is stopping closes its connections anyway; nothing is left to answer.
  if (answered || server->stopping) return;
  // Every copy of the responder is gone and nobody answered: a handler bug, never the client's.
  finish(server->guard_answer(method, route, "the handler dropped its responder"));
}

void responder::exchange::finish(response r) {
  if (answered.exchange(true)) return;
  if (pretty && r.content_type == "application/json") {
    auto doc = nlohmann::json::parse(r.body, nullptr, false);
    if (!doc.is_discarded())
      r.body = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  if (server->observer) {
    server->observer(
        request_record{method, route, r.status, std::chrono::steady_clock::now() - began});
  }
  sink->deliver(std::move(r));
}

// ---- the request pipeline ----

http_server::impl::match_result http_server::impl::match(const std::string& path) const {
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

namespace {

std::string lower_trimmed(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  std::string out(v);
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// How the body is delimited must be unambiguous, or a request can hide another one in its body
// (request smuggling, RFC 9112 section 6.3 and 11.2): the only transfer coding served is a
// lone `chunked` (any other, or a list, is 501: the body would be misread), never beside
// Content-Length, never in HTTP/1.0; and HTTP/1.1 needs exactly one Host (RFC 9112 3.2).
std::optional<response> check_framing(const http::request_header<>& head) {
  std::size_t te_fields = 0;
  std::size_t cl_fields = 0;
  std::size_t host_fields = 0;
  std::string te;
  for (const auto& f : head) {
    if (f.name() == http::field::transfer_encoding) {
      ++te_fields;
      te = lower_trimmed(std::string_view(f.value().data(), f.value().size()));
    } else if (f.name() == http::field::content_length) {
      ++cl_fields;
    } else if (f.name() == http::field::host) {
      ++host_fields;
    }
  }
  if (te_fields > 0) {
    if (head.version() == 10)
      return json_error(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    if (cl_fields > 0)
      return json_error(400, "a request cannot carry both Transfer-Encoding and Content-Length");
    if (te_fields > 1 || te != "chunked")
      return json_error(501, "the transfer coding \"" + te +
                                 "\" is not implemented; send the body as is (Content-Length) "
                                 "or with Transfer-Encoding: chunked alone");
  }
  if (head.version() == 11 && host_fields != 1)
    return json_error(400, host_fields == 0 ? "an HTTP/1.1 request needs a Host header"
                                            : "the request has more than one Host header");
  return std::nullopt;
}

}  // namespace

std::optional<response> http_server::impl::prepare(const http::request_header<>& head,
                                                   std::optional<std::uint64_t> content_length,
                                                   bool keep_alive, prepared_request& out) const {
  out.version = head.version();
  out.keep_alive = keep_alive;
  out.method = std::string(head.method_string());
  if (out.version != 10 && out.version != 11)
    return json_error(505, "HTTP version " + std::to_string(out.version / 10) + "." +
                               std::to_string(out.version % 10) +
                               " is not supported; use HTTP/1.1 (or 1.0)");
  if (method_label(out.method) == "OTHER")
    return json_error(501, "method \"" + out.method + "\" is not implemented by this server");
  const auto fields = static_cast<std::size_t>(std::distance(head.begin(), head.end()));
  if (fields > opt.max_headers)
    return json_error(431, "the request has " + std::to_string(fields) +
                               " header fields; the limit is " + std::to_string(opt.max_headers));
  if (auto framing = check_framing(head)) return framing;
  auto target = decode_target(std::string_view(head.target().data(), head.target().size()));
  if (!target) return json_error(400, target.err().message);
  out.target = std::move(target).value();
  out.head_only = out.method == "HEAD";
  const std::string& routed_method = out.head_only ? std::string("GET") : out.method;
  const auto m = match(out.target.path);
  out.pattern = m.pattern;
  out.methods = m.methods;
  if (m.methods) {
    if (auto it = m.methods->find(routed_method); it != m.methods->end()) out.route = &it->second;
  }
  out.body_limit = out.route && out.route->options.max_body_bytes
                       ? out.route->options.max_body_bytes
                       : opt.max_body_bytes;
  if (content_length) {
    const auto length = content_length;
    if (*length > out.body_limit)
      return json_error(413, "the request body (" + std::to_string(*length) +
                                 " bytes) is larger than the limit of " +
                                 std::to_string(out.body_limit) + " bytes; nothing was changed");
  }
  auto expect = head.find(http::field::expect);
  out.expects_continue =
      expect != head.end() && beast::iequals(expect->value(), "100-continue") && out.version == 11;
  return std::nullopt;
}

response http_server::impl::parse_error_answer(const beast::error_code& ec,
                                               std::string_view received,
                                               std::size_t body_limit) const {
  if (ec == http::error::bad_version && names_unsupported_version(received))
    return json_error(505, "the HTTP version is not supported; use HTTP/1.1 (or 1.0)");
  if (ec == http::error::header_limit)
    return json_error(431, "the request line and headers are larger than the limit of " +
                               std::to_string(opt.max_header_bytes) + " bytes");
  if (ec == http::error::body_limit)
    return json_error(413, "the request body is larger than the limit of " +
                               std::to_string(body_limit ? body_limit : opt.max_body_bytes) +
                               " bytes; nothing was changed");
  return json_error(400, "malformed HTTP request: " + ec.message());
}

void http_server::impl::record_refusal(std::string_view method, std::string_view pattern,
                                       int status) const {
  if (observer)
    observer(request_record{method_label(method), pattern, status, std::chrono::nanoseconds(0)});
}

response http_server::impl::guard_answer(std::string_view method, std::string_view route,
                                         const char* what) {
  ++internal_error_count;
  static std::atomic<std::uint64_t> sequence{0};
  const auto incident =
      fmt::format("{:08x}-{}", static_cast<std::uint32_t>(std::random_device{}()), ++sequence);
  spdlog::error("api: incident {}: {} {}: {}", incident, method, route, what);
  return json_error(500, "internal error (incident " + incident + " in the server's log)");
}

void http_server::impl::dispatch(prepared_request&& p, request&& req,
                                 std::shared_ptr<answer_sink> sink) {
  auto ex = std::make_shared<responder::exchange>();
  ex->server = shared_from_this();
  ex->sink = std::move(sink);
  ex->method = method_label(p.method);
  ex->route = p.pattern;
  ex->began = std::chrono::steady_clock::now();
  if (auto it = req.query.find("pretty"); it != req.query.end())
    ex->pretty = it->second != "false" && it->second != "0";
  if (!p.methods) {
    ex->finish(json_error(404, "no route for " + req.path));
    return;
  }
  if (!p.route) {
    std::string allowed;
    for (const auto& [method, entry] : *p.methods)
      allowed += (allowed.empty() ? "" : ", ") + method;
    auto r = json_error(405, "method " + req.method + " is not allowed on " + req.path +
                                 " (allowed: " + allowed + ")");
    r.headers.emplace_back("Allow", allowed);
    ex->finish(std::move(r));
    return;
  }
  const detail::route_entry& route = *p.route;
  auto run_sync = [ex, &route](const request& rq) {
    try {
      ex->finish(route.sync(rq));
    } catch (const std::exception& e) {
      ex->finish(ex->server->guard_answer(ex->method, ex->route, e.what()));
    } catch (...) {
      ex->finish(ex->server->guard_answer(ex->method, ex->route, "unknown exception"));
    }
  };
  switch (route.kind) {
    case route_kind::inline_handler:
      run_sync(req);
      return;
    case route_kind::blocking: {
      auto shared_req = std::make_shared<request>(std::move(req));
      run_blocking(
          [run_sync, shared_req] { run_sync(*shared_req); },
          [ex] { ex->finish(json_error(503, "the server is busy with slow requests; retry")); });
      return;
    }
    case route_kind::async:
      try {
        route.async(std::move(req), responder(ex));
      } catch (const std::exception& e) {
        ex->finish(guard_answer(ex->method, ex->route, e.what()));
      } catch (...) {
        ex->finish(guard_answer(ex->method, ex->route, "unknown exception"));
      }
      return;
  }
}

http::response<http::string_body> http_server::impl::make_message(response r, unsigned version,
                                                                  bool keep_alive,
                                                                  bool head_only) const {
  http::response<http::string_body> out{static_cast<http::status>(r.status), version};
  out.set(http::field::server, "sundial");
  for (const auto& [k, v] : default_headers)
    out.set(k, v);
  out.set(http::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers)
    out.set(k, v);
  out.keep_alive(keep_alive);
  out.body() = std::move(r.body);
  out.prepare_payload();
  if (head_only) out.body().clear();  // Content-Length still tells the size (RFC 9110 9.3.2)
  return out;
}

void http_server::impl::run_blocking(std::function<void()> task, std::function<void()> on_full) {
  {
    std::lock_guard lock(pool_mu);
    if (pool_queue.size() < opt.blocking_queue && !pool_stopping) {
      pool_queue.push_back(std::move(task));
      pool_cv.notify_one();
      return;
    }
  }
  on_full();
}

// ---- accepting ----

void http_server::impl::accept_next() {
  auto& shard = *shards[next_shard++ % shards.size()];
  acceptor->async_accept(shard.get_executor(),
                         [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                           self->on_accept(ec, std::move(socket));
                         });
}

std::vector<std::shared_ptr<detail::connection>> http_server::impl::open_connections() const {
  std::vector<std::shared_ptr<detail::connection>> out;
  std::lock_guard lock(conn_mu);
  out.reserve(sessions.size());
  for (const auto& [key, c] : sessions) {
    if (auto strong = c->share()) out.push_back(std::move(strong));
  }
  return out;
}

void http_server::impl::sweep() {
  if (stopping) return;
  const std::int64_t now = detail::steady_now_ns();
  std::vector<std::shared_ptr<detail::connection>> due;
  {
    std::lock_guard lock(conn_mu);
    for (const auto& [key, c] : sessions) {
      const std::int64_t d = c->deadline();
      if (d == 0 || d > now) continue;
      if (auto strong = c->share()) due.push_back(std::move(strong));
    }
  }
  for (auto& c : due)
    c->post_deadline_check();
  due.clear();
  sweeper->expires_after(sweep_interval);
  sweeper->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->sweep();
  });
}

void http_server::impl::refuse(tcp::socket& socket, int status, const std::string& message) {
  // Best effort and never blocking: what the client already sent is read first, so that the
  // close does not turn into a reset that destroys the answer before the client reads it.
  beast::error_code ec;
  socket.non_blocking(true, ec);
  char scratch[4096];
  for (int i = 0; i < 16 && socket.available(ec) > 0 && !ec; ++i)
    socket.read_some(asio::buffer(scratch), ec);
  std::ostringstream os;
  os << make_message(json_error(status, message), 11, false, false);
  const std::string bytes = os.str();
  socket.write_some(asio::buffer(bytes), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void http_server::impl::on_accept(beast::error_code ec, tcp::socket socket) {
  if (stopping) return;
  if (ec) {
    if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) return;
    // Out of descriptors and the like: the listening socket stays, the next accept may work.
    spdlog::warn("api: accept failed: {}", ec.message());
    auto timer = std::make_shared<asio::steady_timer>(*shards[0], std::chrono::milliseconds(50));
    timer->async_wait([self = shared_from_this(), timer](beast::error_code) {
      if (!self->stopping) self->accept_next();
    });
    return;
  }
  accept_next();
  beast::error_code aec;
  const auto remote = socket.remote_endpoint(aec);
  if (aec) return;  // already gone
  std::string client = remote.address().to_string();
  {
    std::unique_lock lock(conn_mu);
    if (sessions.size() >= opt.max_connections) {
      lock.unlock();
      notify(connection_event::refused_total);
      refuse(socket, 503, "too many connections");
      return;
    }
    auto& mine = per_client[client];
    if (mine >= opt.max_connections_per_client) {
      lock.unlock();
      notify(connection_event::refused_per_client);
      refuse(socket, 429,
             "too many connections from " + client + " (limit " +
                 std::to_string(opt.max_connections_per_client) + ")");
      return;
    }
    ++mine;
  }
  detail::start_session(shared_from_this(), std::move(socket), std::move(client));
}

// ---- http_server ----

http_server::http_server(http_options options) : impl_(std::make_shared<impl>()) {
  impl_->opt = std::move(options);
  // The concurrency hint 1: each loop is run by one thread (answers from others only post).
  for (int i = 0; i < std::max(1, impl_->opt.threads); ++i)
    impl_->shards.push_back(std::make_unique<asio::io_context>(1));
}

http_server::~http_server() {
  stop();
  impl_->sweeper.reset();
  impl_->acceptor.reset();
  impl_->work.clear();
  impl_->shards.clear();
}

void http_server::route(const std::string& method, const std::string& path, handler h,
                        route_kind kind, route_options options) {
  SUNDIAL_ASSERT(kind != route_kind::async, "use route_async for asynchronous handlers");
  SUNDIAL_ASSERT(!impl_->started, "routes are registered before start()");
  auto& table = !path.empty() && path.back() == '/' ? impl_->prefixes : impl_->exact;
  auto [it, added] = table[path].try_emplace(method);
  SUNDIAL_ASSERT(added, "route registered twice");
  it->second.kind = kind;
  it->second.sync = std::move(h);
  it->second.options = options;
}

void http_server::route_async(const std::string& method, const std::string& path, async_handler h,
                              route_options options) {
  SUNDIAL_ASSERT(!impl_->started, "routes are registered before start()");
  auto& table = !path.empty() && path.back() == '/' ? impl_->prefixes : impl_->exact;
  auto [it, added] = table[path].try_emplace(method);
  SUNDIAL_ASSERT(added, "route registered twice");
  it->second.kind = route_kind::async;
  it->second.async = std::move(h);
  it->second.options = options;
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

void http_server::set_connection_observer(connection_observer observer) {
  impl_->conn_observer = std::move(observer);
}

base::result<int> http_server::start(const std::string& address) {
  auto hp = split_host_port(address);
  if (!hp) return hp.err();
  beast::error_code ec;
  auto addr = asio::ip::make_address(hp->first, ec);
  if (ec)
    return base::fail(base::errc::invalid_argument, "\"" + hp->first + "\" is not an IP address");
  auto& im = *impl_;
  auto acc = std::make_unique<tcp::acceptor>(*im.shards[0]);
  const tcp::endpoint ep(addr, static_cast<unsigned short>(hp->second));
  acc->open(ep.protocol(), ec);
  if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc->bind(ep, ec);
  if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return base::fail(base::errc::io_error,
                      "cannot listen for HTTP on " + address + ": " + ec.message());
  const int port = acc->local_endpoint().port();
  im.acceptor = std::move(acc);
  im.started = true;
  im.sweeper = std::make_unique<asio::steady_timer>(*im.shards[0]);
  asio::post(*im.shards[0], [p = impl_] {
    p->accept_next();
    p->sweep();
  });
  for (auto& shard : im.shards) {
    im.work.push_back(asio::make_work_guard(*shard));
    im.io_threads.emplace_back([io = shard.get()] { io->run(); });
  }
  for (int i = 0; i < std::max(1, im.opt.blocking_threads); ++i) {
    im.pool_threads.emplace_back([p = impl_.get()] {
      for (;;) {
        std::function<void()> task;
        {
          std::unique_lock lock(p->pool_mu);
          p->pool_cv.wait(lock, [&] { return p->pool_stopping || !p->pool_queue.empty(); });
          if (p->pool_queue.empty()) return;
          task = std::move(p->pool_queue.front());
          p->pool_queue.pop_front();
        }
        task();
      }
    });
  }
  return port;
}

void http_server::stop() {
  if (!impl_ || !impl_->started || impl_->stopping.exchange(true)) return;
  auto& im = *impl_;
  asio::post(*im.shards[0], [p = impl_.get()] {
    beast::error_code ec;
    p->acceptor->close(ec);
    p->sweeper->cancel();
  });
  // Drain: idle connections and streams close now, requests in flight finish their answer.
  auto drain_all = [&](bool force) {
    for (auto& c : im.open_connections())
      c->post_drain(force);
  };
  drain_all(false);
  {
    std::unique_lock lock(im.conn_mu);
    im.conn_cv.wait_for(lock, im.opt.drain_timeout, [&] { return im.sessions.empty(); });
  }
  drain_all(true);
  {
    std::unique_lock lock(im.conn_mu);
    im.conn_cv.wait_for(lock, std::chrono::seconds(2), [&] { return im.sessions.empty(); });
    if (!im.sessions.empty())
      spdlog::warn("api: {} connections still open after the drain", im.sessions.size());
  }
  {
    std::lock_guard lock(im.pool_mu);
    im.pool_stopping = true;
  }
  im.pool_cv.notify_all();
  for (auto& t : im.pool_threads)
    t.join();
  im.work.clear();
  for (auto& shard : im.shards)
    shard->stop();
  for (auto& t : im.io_threads)
    t.join();
}

std::uint64_t http_server::internal_errors() const {
  return impl_->internal_error_count.load();
}

std::size_t http_server::open_connections() const {
  std::lock_guard lock(impl_->conn_mu);
  return impl_->sessions.size();
}

// ---- serve_bytes: the pipeline without a socket ----

namespace {

std::optional<std::uint64_t> content_length_of(const detail::head_parser& p) {
  const auto cl = p.content_length();
  return cl ? std::optional<std::uint64_t>(*cl) : std::nullopt;
}

// Captures one answer; streams answer their head and are closed at once.
class capture_sink : public answer_sink {
 public:
  capture_sink(std::promise<std::pair<response, bool>> p, asio::io_context& loop)
      : promise_(std::move(p)), loop_(loop) {}
  void deliver(response r) override { promise_.set_value({std::move(r), false}); }
  void post(std::function<void()> fn) override { asio::post(loop_, std::move(fn)); }

  class closed_stream : public response_stream {
   public:
    bool write(std::string) override { return false; }
    void close() override {}
    bool closed() const override { return true; }
  };
  std::shared_ptr<response_stream> open_stream(int status, std::string content_type,
                                               header_list headers, std::string,
                                               std::chrono::milliseconds) override {
    promise_.set_value({response{status, std::move(content_type), {}, std::move(headers)}, true});
    return std::make_shared<closed_stream>();
  }

 private:
  std::promise<std::pair<response, bool>> promise_;
  asio::io_context& loop_;
};

}  // namespace

std::string http_server::serve_bytes(std::string_view raw, const std::string& remote_address) {
  auto& im = *impl_;
  SUNDIAL_ASSERT(im.started, "serve_bytes needs a started server (its threads answer)");
  auto as_text = [&](response r, unsigned version, bool keep_alive, bool head_only) {
    std::ostringstream os;
    os << im.make_message(std::move(r), version, keep_alive, head_only);
    return os.str();
  };
  detail::head_parser hp;
  hp.header_limit(static_cast<std::uint32_t>(im.opt.max_header_bytes));
  hp.body_limit(std::numeric_limits<std::uint64_t>::max());  // the route's, set later
  beast::error_code ec;
  std::size_t used = 0;
  // Beast takes a header only whole: a put() that consumed nothing needs more than there is.
  while (!hp.is_header_done()) {
    const std::size_t n = hp.put(asio::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec == http::error::need_more || (!ec && n == 0)) {
      if (hp.is_header_done()) break;
      im.record_refusal("OTHER", unmatched_route, 408);
      return as_text(json_error(408, "the request ended before its headers did"), 11, false, false);
    }
    if (ec) {
      auto r = im.parse_error_answer(ec, raw);
      im.record_refusal("OTHER", unmatched_route, r.status);
      return as_text(std::move(r), 11, false, false);
    }
  }
  prepared_request p;
  if (auto refusal = im.prepare(hp.get(), content_length_of(hp), hp.keep_alive(), p)) {
    im.record_refusal(p.method, p.pattern, refusal->status);
    return as_text(std::move(*refusal), p.version == 10 ? 10 : 11, false, false);
  }
  http::request_parser<http::string_body> bp(std::move(hp));
  bp.body_limit(p.body_limit);
  bp.eager(true);
  while (!bp.is_done()) {
    const std::size_t n = bp.put(asio::buffer(raw.data() + used, raw.size() - used), ec);
    used += n;
    if (ec && ec != http::error::need_more) {
      auto r = im.parse_error_answer(ec, {}, p.body_limit);
      im.record_refusal(p.method, p.pattern, r.status);
      return as_text(std::move(r), p.version, false, false);
    }
    if (bp.is_done()) break;
    if (used == raw.size() || n == 0) {
      // No more bytes: a body that needs more is cut short (a read-until-close body ends).
      bp.put_eof(ec);
      if (ec || !bp.is_done()) {
        im.record_refusal(p.method, p.pattern, 408);
        return as_text(json_error(408, "the request ended before its body did"), p.version, false,
                       false);
      }
    }
  }
  auto& msg = bp.get();
  request req;
  req.method = p.method;
  req.path = p.target.path;
  req.query = p.target.query;
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers[name] = std::string(f.value());
  }
  req.body = std::move(msg.body());
  req.remote_address = remote_address;
  std::promise<std::pair<response, bool>> promise;
  auto answer = promise.get_future();
  const unsigned version = p.version;
  const bool keep_alive = p.keep_alive;
  const bool head_only = p.head_only;
  std::string body_file;
  if (p.route && p.route->options.body_to_file) {
    // The same shape a connection gives such a route: the body in a file.
    std::string path = im.opt.temp_dir + "/sundial-body-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) return as_text(json_error(503, "cannot store the body"), version, false, false);
    const bool written =
        ::write(fd, req.body.data(), req.body.size()) == static_cast<ssize_t>(req.body.size());
    ::close(fd);
    body_file = path;
    req.body_file = body_file;
    req.body.clear();
    if (!written) {
      ::unlink(path.c_str());
      return as_text(json_error(503, "cannot store the body"), version, false, false);
    }
  }
  im.dispatch(std::move(p), std::move(req),
              std::make_shared<capture_sink>(std::move(promise), *im.shards[0]));
  if (answer.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    if (!body_file.empty()) ::unlink(body_file.c_str());
    return as_text(json_error(504, "no answer within 60 s"), version, false, false);
  }
  auto [r, streamed] = answer.get();
  if (!body_file.empty()) ::unlink(body_file.c_str());
  return as_text(std::move(r), version, keep_alive && !streamed, head_only);
}

}  // namespace sundial::api
