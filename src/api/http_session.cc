// One connection's state machine. Every step runs on the thread of the connection's event loop
// (its shard); a deadline bounds each phase (idle keep-alive, headers, body, writing) and the
// server's sweeper enforces it; answers that come from other threads are posted to the loop.
//
//   idle --first byte--> header --head ok--> body --done--> handling --answer--> writing
//     ^                    |  \--refused----------------------------------------> writing
//     |                    `-- timeout: 408, close                                 |
//     `---------------------------- keep-alive ------------------------------------'
//   handling --open_stream--> streaming --closed / client gone / dropped--> closed

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <limits>
#include <sstream>

#include "api/http_internal.h"

namespace sundial::api::detail {
namespace {

enum class phase { idle, header, body, handling, writing, streaming, lingering, closed };

class session;

// The streaming answer's shared half: writers on any thread queue chunks here.
class session_stream : public response_stream {
 public:
  session_stream(std::weak_ptr<session> owner, std::size_t limit)
      : owner_(std::move(owner)), limit_(limit) {}
  bool write(std::string data) override;
  void close() override;
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // The session's side (on its event-loop thread).
  std::string take(bool& finished) {
    std::lock_guard lock(mu_);
    std::string out;
    for (auto& chunk : queue_)
      out += std::move(chunk);
    queue_.clear();
    queued_ = 0;
    scheduled_ = false;
    finished = close_requested_;
    return out;
  }
  void mark_closed() {
    std::lock_guard lock(mu_);
    closed_ = true;
    queue_.clear();
    queued_ = 0;
  }

 private:
  void schedule_flush();

  mutable std::mutex mu_;
  std::weak_ptr<session> owner_;
  const std::size_t limit_;
  std::deque<std::string> queue_;
  std::size_t queued_ = 0;
  bool scheduled_ = false;
  bool close_requested_ = false;
  bool closed_ = false;
};

class session : public answer_sink,
                public connection,
                public std::enable_shared_from_this<session> {
 public:
  session(std::shared_ptr<http_server::impl> server, tcp::socket socket, std::string client)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        heartbeat_timer_(socket_.get_executor()),
        client_(std::move(client)) {}

  ~session() override {
    if (stream_) stream_->mark_closed();  // writers learn it even if the loop never ran again
    if (!body_file_.empty()) ::unlink(body_file_.c_str());
    std::lock_guard lock(server_->conn_mu);
    server_->sessions.erase(static_cast<const void*>(this));
    auto it = server_->per_client.find(client_);
    if (it != server_->per_client.end() && --it->second == 0) server_->per_client.erase(it);
    server_->notify(connection_event::closed);
    server_->conn_cv.notify_all();
  }

  void start() {
    {
      std::lock_guard lock(server_->conn_mu);
      server_->sessions[static_cast<const void*>(this)] = this;
    }
    server_->notify(connection_event::opened);
    beast::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);  // the read after a readiness wait must never block
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->await_request(); });
  }

  // connection: called from any thread.
  std::shared_ptr<connection> share() override { return weak_from_this().lock(); }
  void post_deadline_check() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->check_deadline(); });
  }
  void post_drain(bool force) override {
    asio::post(socket_.get_executor(), [self = shared_from_this(), force] { self->drain(force); });
  }

  // answer_sink: called from any thread.
  void post(std::function<void()> fn) override {
    asio::post(socket_.get_executor(), std::move(fn));
  }
  void deliver(response r) override {
    // dispatch: an inline handler answers on the loop's own thread, and its answer is written
    // at once instead of after another trip through the loop's queue.
    asio::dispatch(socket_.get_executor(), [self = shared_from_this(), r = std::move(r)]() mutable {
      self->on_answer(std::move(r));
    });
  }
  std::shared_ptr<response_stream> open_stream(int status, std::string content_type,
                                               header_list headers, std::string heartbeat,
                                               std::chrono::milliseconds every) override {
    auto stream =
        std::make_shared<session_stream>(weak_from_this(), server_->opt.stream_buffer_bytes);
    asio::post(socket_.get_executor(),
               [self = shared_from_this(), stream, status, content_type = std::move(content_type),
                headers = std::move(headers), heartbeat = std::move(heartbeat), every]() mutable {
                 self->begin_stream(stream, status, content_type, headers, std::move(heartbeat),
                                    every);
               });
    return stream;
  }

  // Loop thread: the stream has chunks (or a close) to send.
  void flush_stream() {
    if (phase_ != phase::streaming || stream_writing_) return;
    bool finished = false;
    std::string data = stream_->take(finished);
    std::string wire;
    if (!data.empty()) {
      if (stream_chunked_) {
        wire = fmt::format("{:x}\r\n", data.size());
        wire += data;
        wire += "\r\n";
      } else {
        wire = std::move(data);
      }
    }
    if (finished) {
      if (stream_chunked_) wire += "0\r\n\r\n";
      stream_finishing_ = true;
    }
    if (wire.empty()) return;
    write_stream_bytes(std::move(wire));
  }

  // Loop thread: the stream's reader fell behind.
  void drop_stream() {
    if (phase_ != phase::streaming) return;
    server_->notify(connection_event::stream_dropped);
    close_now();
  }

 private:
  static constexpr std::size_t read_chunk = 8 * 1024;  // bytes asked of one read

  // ---- reading a request ----

  void await_request() {
    if (phase_ == phase::closed) return;
    if (draining_) return close_now();
    prepared_ = prepared_request{};
    head_bytes_ = 0;
    // One parser per request: its head is read first, then (unless the route takes its body as
    // a file) its body, with the route's limit.
    string_body_.emplace();
    string_body_->header_limit(static_cast<std::uint32_t>(server_->opt.max_header_bytes));
    string_body_->body_limit(std::numeric_limits<std::uint64_t>::max());  // the route's, later
    if (buffer_.size() > 0) {  // a pipelined request is already here
      phase_ = phase::header;
      set_deadline(server_->opt.header_timeout);
      return parse_header();
    }
    phase_ = phase::idle;
    set_deadline(server_->opt.idle_timeout);
    // An idle connection keeps at most one read's worth of buffer (an upload's grown one is
    // given back).
    if (buffer_.capacity() > 2 * read_chunk) buffer_.shrink_to_fit();
    // Between requests the client is usually still reading our answer: a read tried now would
    // only fail (EAGAIN). Waiting for readability first, then reading what is there, costs one
    // system call less per request.
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      if (self->phase_ != phase::idle) return;
      if (ec) return self->on_read_error(ec);
      beast::error_code rec;
      const std::size_t n = self->socket_.read_some(self->buffer_.prepare(read_chunk), rec);
      self->buffer_.commit(n);
      if (rec == asio::error::would_block) return self->read_more(&session::parse_header);
      if (rec) return self->on_read_error(rec);
      self->phase_ = phase::header;  // a request's first bytes: its headers' clock starts
      self->set_deadline(self->server_->opt.header_timeout);
      self->parse_header();
    });
  }

  // One read into the buffer, then `next`. A read is tried at once (Asio reads speculatively
  // before it waits), so a request that has arrived costs no wait at all.
  void read_more(void (session::*next)()) {
    socket_.async_read_some(buffer_.prepare(read_chunk), [self = shared_from_this(), next](
                                                             beast::error_code ec, std::size_t n) {
      if (self->phase_ == phase::closed || self->phase_ == phase::lingering) return;
      self->buffer_.commit(n);
      if (ec) return self->on_read_error(ec);
      if (self->phase_ == phase::idle) {  // a request's first bytes: its headers' clock
        self->phase_ = phase::header;
        self->set_deadline(self->server_->opt.header_timeout);
      }
      ((*self).*next)();
    });
  }

  void on_read_error(beast::error_code) {
    if (!timed_out_) return close_now();  // the client closed or reset
    switch (phase_) {
      case phase::idle:
        server_->notify(connection_event::idle_timeout);
        return close_now();
      case phase::header:
        server_->notify(connection_event::header_timeout);
        return refuse(
            json_error(408, "the request's headers did not arrive within " +
                                std::to_string(server_->opt.header_timeout.count()) + " ms"),
            11);
      case phase::body:
        server_->notify(connection_event::body_timeout);
        return refuse(
            json_error(408, "the request's body did not arrive within " +
                                std::to_string(server_->opt.body_timeout.count()) + " ms"),
            prepared_.version);
      default:
        return close_now();
    }
  }

  // Feeds what is buffered to `p`; true once the message (or its head) is complete.
  template <class Parser>
  bool feed(Parser& p, beast::error_code& ec, bool head_only) {
    const auto complete = [&] { return head_only ? p.is_header_done() : p.is_done(); };
    while (!complete() && buffer_.size() > 0) {
      const std::size_t n = p.put(buffer_.data(), ec);
      buffer_.consume(n);
      if (head_only) head_bytes_ += n;
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec || n == 0) break;
    }
    return !ec && complete();
  }

  void parse_header() {
    beast::error_code ec;
    const bool done = feed(*string_body_, ec, true);
    if (ec) return on_header(ec);
    // Beast checks its header limit within one put(): fed in pieces, a header consumed field
    // by field would pass any limit. The head's bytes are counted here instead.
    if (head_bytes_ + (done ? 0 : buffer_.size()) > server_->opt.max_header_bytes)
      return on_header(http::error::header_limit);
    if (done) return on_header({});
    read_more(&session::parse_header);
  }

  void on_header(beast::error_code ec) {
    if (phase_ != phase::header) return;
    if (ec) {
      const auto data = buffer_.cdata();
      const std::string_view received(static_cast<const char*>(data.data()),
                                      std::min<std::size_t>(data.size(), 256));
      return refuse(server_->parse_error_answer(ec, received), 11);
    }
    const auto cl = string_body_->content_length();
    if (auto refusal = server_->prepare(string_body_->get(),
                                        cl ? std::optional<std::uint64_t>(*cl) : std::nullopt,
                                        string_body_->keep_alive(), prepared_)) {
      return refuse(std::move(*refusal), prepared_.version == 10 ? 10 : 11);
    }
    const bool file = prepared_.route && prepared_.route->options.body_to_file;
    if (file) {
      std::string path = server_->opt.temp_dir + "/sundial-body-XXXXXX";
      const int fd = ::mkstemp(path.data());
      if (fd < 0)
        return refuse(json_error(503, "cannot store the request body"), prepared_.version);
      ::close(fd);
      body_file_ = path;
      file_body_.emplace(std::move(*string_body_));
      string_body_.reset();
      file_body_->body_limit(prepared_.body_limit);
      file_body_->eager(true);
      beast::error_code fec;
      file_body_->get().body().open(path.c_str(), beast::file_mode::write, fec);
      if (fec) return refuse(json_error(503, "cannot store the request body"), prepared_.version);
    } else {
      string_body_->body_limit(prepared_.body_limit);
      string_body_->eager(true);
    }
    const bool body_pending = file_body_ ? !file_body_->is_done() : !string_body_->is_done();
    if (prepared_.expects_continue && body_pending && buffer_.size() == 0) {
      // The client waits for this before it sends a large body (RFC 9110 10.1.1).
      auto interim = std::make_shared<std::string>("HTTP/1.1 100 Continue\r\n\r\n");
      asio::async_write(socket_, asio::buffer(*interim),
                        [self = shared_from_this(), interim](beast::error_code wec, std::size_t) {
                          if (wec) return self->close_now();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    phase_ = phase::body;
    set_deadline(server_->opt.body_timeout);
    parse_body();
  }

  void parse_body() {
    beast::error_code ec;
    const bool done = file_body_ ? feed(*file_body_, ec, false) : feed(*string_body_, ec, false);
    if (done || ec) return on_body(ec);
    read_more(&session::parse_body);
  }

  void on_body(beast::error_code ec) {
    if (phase_ != phase::body) return;
    if (ec)
      return refuse(server_->parse_error_answer(ec, {}, prepared_.body_limit), prepared_.version);
    clear_deadline();
    request req;
    req.method = prepared_.method;
    req.path = std::move(prepared_.target.path);
    req.query = std::move(prepared_.target.query);
    req.remote_address = client_;
    auto copy_headers = [&](const auto& msg) {
      for (const auto& f : msg) {
        std::string name(f.name_string());
        for (auto& c : name)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = std::string(f.value());
      }
    };
    if (file_body_) {
      copy_headers(file_body_->get());
      file_body_->get().body().close();
      file_body_.reset();
      req.body_file = body_file_;
    } else {
      copy_headers(string_body_->get());
      req.body = std::move(string_body_->get().body());
      string_body_.reset();
    }
    phase_ = phase::handling;
    server_->dispatch(std::move(prepared_), std::move(req), shared_from_this());
  }

  // ---- answering ----

  void on_answer(response r) {
    if (phase_ != phase::handling) return;
    if (!body_file_.empty()) {
      ::unlink(body_file_.c_str());
      body_file_.clear();
    }
    const bool keep_alive = prepared_.keep_alive && !draining_;
    write_answer(
        server_->make_message(std::move(r), prepared_.version, keep_alive, prepared_.head_only),
        keep_alive, false);
  }

  // Answers a request that is refused before its handler; the rest of what the client sends
  // is not read, so the connection closes after the answer (lingering, see linger()).
  void refuse(response r, unsigned version) {
    server_->record_refusal(prepared_.method, prepared_.pattern, r.status);
    if (!body_file_.empty()) {
      ::unlink(body_file_.c_str());
      body_file_.clear();
    }
    string_body_.reset();
    file_body_.reset();
    write_answer(server_->make_message(std::move(r), version, false, false), false, true);
  }

  void write_answer(http::response<http::string_body> msg, bool keep_alive, bool linger_after) {
    phase_ = phase::writing;
    out_ = std::make_shared<http::response<http::string_body>>(std::move(msg));
    set_deadline(server_->opt.body_timeout);
    http::async_write(
        socket_, *out_,
        [self = shared_from_this(), keep_alive, linger_after](beast::error_code ec, std::size_t) {
          if (self->phase_ != phase::writing) return;
          self->out_.reset();
          self->clear_deadline();
          if (ec) return self->close_now();
          if (linger_after) return self->linger();
          if (!keep_alive) return self->close_gracefully();
          self->await_request();
        });
  }

  // ---- streaming ----

  void begin_stream(std::shared_ptr<session_stream> stream, int status,
                    const std::string& content_type, const header_list& headers,
                    std::string heartbeat, std::chrono::milliseconds every) {
    if (phase_ != phase::handling) {
      stream->mark_closed();
      return;
    }
    stream_ = std::move(stream);
    stream_chunked_ = prepared_.version == 11;
    phase_ = phase::streaming;
    if (draining_) {
      stream_->mark_closed();
      return close_now();
    }
    http::response<http::empty_body> head{static_cast<http::status>(status), prepared_.version};
    head.set(http::field::server, "sundial");
    for (const auto& [k, v] : server_->default_headers)
      head.set(k, v);
    head.set(http::field::content_type, content_type);
    head.set(http::field::cache_control, "no-cache");
    for (const auto& [k, v] : headers)
      head.set(k, v);
    if (stream_chunked_) head.chunked(true);
    head.keep_alive(false);
    std::ostringstream os;
    os << head.base();
    heartbeat_ = std::move(heartbeat);
    heartbeat_every_ = every;
    write_stream_bytes(os.str());
    watch_client();
    arm_heartbeat();
  }

  void write_stream_bytes(std::string bytes) {
    stream_writing_ = true;
    auto data = std::make_shared<std::string>(std::move(bytes));
    set_deadline(server_->opt.body_timeout);  // a reader that takes nothing this long is dropped
    asio::async_write(socket_, asio::buffer(*data),
                      [self = shared_from_this(), data](beast::error_code ec, std::size_t) {
                        self->stream_writing_ = false;
                        if (self->phase_ != phase::streaming) return;
                        self->clear_deadline();
                        if (ec) return self->close_now();
                        if (self->stream_finishing_) return self->close_gracefully();
                        self->flush_stream();
                      });
  }

  // A streaming client sends nothing more; a read that ends means it left.
  void watch_client() {
    socket_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (self->phase_ != phase::streaming) return;
                              if (ec) return self->close_now();
                              self->watch_client();  // bytes after the request are ignored
                            });
  }

  void arm_heartbeat() {
    if (heartbeat_.empty() || heartbeat_every_.count() <= 0) return;
    heartbeat_timer_.expires_after(heartbeat_every_);
    heartbeat_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->phase_ != phase::streaming) return;
      self->stream_->write(self->heartbeat_);
      self->arm_heartbeat();
    });
  }

  // ---- deadlines and closing ----

  // The server's sweeper enforces deadlines (http_server::impl::sweep): setting one is a store.
  void set_deadline(std::chrono::milliseconds d) {
    timed_out_ = false;
    deadline_ns_.store(steady_now_ns() + std::chrono::nanoseconds(d).count(),
                       std::memory_order_relaxed);
  }
  void clear_deadline() { deadline_ns_.store(0, std::memory_order_relaxed); }
  void check_deadline() {
    const std::int64_t d = deadline();
    if (phase_ == phase::closed || d == 0 || d > steady_now_ns()) return;
    timed_out_ = true;
    clear_deadline();
    beast::error_code ignored;
    socket_.cancel(ignored);  // the pending operation fails; its handler sees timed_out_
  }

  // Half-closes, then reads and discards what the client still sends (bounded in bytes and
  // time) before closing: closing with unread data makes the kernel send a reset, which can
  // destroy the answer before the client reads it.
  void linger() {
    phase_ = phase::lingering;
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    lingered_ = 0;
    set_deadline(std::chrono::seconds(3));
    linger_read();
  }
  void linger_read() {
    socket_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (self->phase_ != phase::lingering) return;
                              self->lingered_ += n;
                              if (ec || self->lingered_ > (64u << 20)) return self->close_now();
                              self->linger_read();
                            });
  }

  void close_gracefully() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    close_now();
  }

  void close_now() {
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    if (stream_) stream_->mark_closed();
    clear_deadline();
    heartbeat_timer_.cancel();
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  // The server is stopping: idle and half-read connections close now, streams end, requests in
  // flight finish and then close. `force` closes whatever is left.
  void drain(bool force) {
    draining_ = true;
    if (force) return close_now();
    switch (phase_) {
      case phase::idle:
      case phase::header:
      case phase::streaming:
      case phase::lingering:
        close_now();
        break;
      default:
        break;  // body, handling, writing: the answer goes out with Connection: close
    }
  }

  std::shared_ptr<http_server::impl> server_;
  tcp::socket socket_;
  asio::steady_timer heartbeat_timer_;
  const std::string client_;
  beast::flat_buffer buffer_;
  phase phase_ = phase::idle;
  bool timed_out_ = false;
  bool draining_ = false;

  std::optional<http::request_parser<http::string_body>> string_body_;
  std::optional<http::request_parser<http::file_body>> file_body_;
  std::size_t head_bytes_ = 0;  // of the current request's head, consumed by the parser
  std::string body_file_;       // removed once answered (or when the connection goes)
  prepared_request prepared_;
  std::shared_ptr<http::response<http::string_body>> out_;

  std::shared_ptr<session_stream> stream_;
  bool stream_chunked_ = true;
  bool stream_writing_ = false;
  bool stream_finishing_ = false;
  std::string heartbeat_;
  std::chrono::milliseconds heartbeat_every_{0};

  std::array<char, 4096> scratch_{};
  std::size_t lingered_ = 0;

  friend class session_stream;
};

bool session_stream::write(std::string data) {
  if (data.empty()) return !closed();
  bool drop = false;
  {
    std::lock_guard lock(mu_);
    if (closed_ || close_requested_) return false;
    if (queued_ + data.size() > limit_) {
      closed_ = true;
      drop = true;
      queue_.clear();
      queued_ = 0;
    } else {
      queued_ += data.size();
      queue_.push_back(std::move(data));
    }
  }
  if (drop) {
    if (auto s = owner_.lock()) asio::post(s->socket_.get_executor(), [s] { s->drop_stream(); });
    return false;
  }
  schedule_flush();
  return true;
}

void session_stream::close() {
  {
    std::lock_guard lock(mu_);
    if (closed_ || close_requested_) return;
    close_requested_ = true;
    closed_ = true;  // writers stop now; what is queued still goes out
  }
  if (auto s = owner_.lock()) asio::post(s->socket_.get_executor(), [s] { s->flush_stream(); });
}

void session_stream::schedule_flush() {
  {
    std::lock_guard lock(mu_);
    if (scheduled_) return;
    scheduled_ = true;
  }
  if (auto s = owner_.lock()) asio::post(s->socket_.get_executor(), [s] { s->flush_stream(); });
}

}  // namespace

void start_session(std::shared_ptr<http_server::impl> server, tcp::socket socket,
                   std::string client) {
  std::make_shared<session>(std::move(server), std::move(socket), std::move(client))->start();
}

}  // namespace sundial::api::detail
