// The serving model and its limits: timeouts, connection caps, answers from other threads, the
// last-resort guard, streaming answers with back-pressure, graceful stop and serve_bytes.
#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "api/http_server.h"

namespace sundial::api {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A blocking client connection with a receive timeout, bound to a chosen source address.
class client {
 public:
  client(int port, const std::string& from = "127.0.0.1") : sock_(io_) {
    sock_.open(tcp::v4());
    sock_.bind(tcp::endpoint(asio::ip::make_address(from), 0));
    sock_.connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
    timeval tv{5, 0};
    ::setsockopt(sock_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& raw) { asio::write(sock_, asio::buffer(raw)); }
  // Reads until `done(received)` or the connection ends or 5 s pass without data.
  // Bytes past what `done` accepted stay for the next read (pipelined answers).
  std::string read_until(const std::function<std::size_t(const std::string&)>& done) {
    std::string got = std::move(pending_);
    pending_.clear();
    char buf[8192];
    std::size_t take = 0;
    while ((take = done(got)) == 0) {
      boost::system::error_code ec;
      const std::size_t n = sock_.read_some(asio::buffer(buf), ec);
      got.append(buf, n);
      if (ec) {
        ended_ = true;
        return got;
      }
    }
    pending_ = got.substr(std::min(take, got.size()));
    got.resize(std::min(take, got.size()));
    return got;
  }
  std::string read_answer() {
    return read_until([](const std::string& s) -> std::size_t {
      const auto head = s.find("\r\n\r\n");
      if (head == std::string::npos) return 0;
      const auto cl = s.find("Content-Length: ");
      if (cl == std::string::npos || cl > head) return head + 4;
      const std::size_t end = head + 4 + std::stoul(s.substr(cl + 16));
      return s.size() >= end ? end : 0;
    });
  }
  std::string read_to_end() {
    return read_until([](const std::string&) -> std::size_t { return 0; });
  }
  bool ended() const { return ended_; }

 private:
  asio::io_context io_;
  tcp::socket sock_;
  bool ended_ = false;
  std::string pending_;
};

int status_of(const std::string& answer) {
  return answer.size() > 12 ? std::stoi(answer.substr(9, 3)) : 0;
}

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

int thread_count() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

struct started {
  std::unique_ptr<http_server> server;
  int port = 0;
};

started start(http_options o, const std::function<void(http_server&)>& routes) {
  started s;
  s.server = std::make_unique<http_server>(o);
  s.server->route("GET", "/health", [](const request&) {
    return response{200, "text/plain", "ok", {}};
  });
  routes(*s.server);
  auto port = s.server->start("127.0.0.1:0");
  EXPECT_TRUE(port.ok());
  s.port = port.ok() ? *port : 0;
  return s;
}

TEST(http_limits, half_sent_headers_get_408_within_the_header_timeout) {
  http_options o;
  o.header_timeout = 300ms;
  auto s = start(o, [](http_server&) {});
  client c(s.port);
  const auto began = std::chrono::steady_clock::now();
  c.send("GET /health HTTP/1.1\r\nHost: t\r\n");  // no blank line: never finished
  const auto answer = c.read_to_end();
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(status_of(answer), 408) << answer;
  EXPECT_TRUE(c.ended());
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST(http_limits, idle_keep_alive_connections_close_after_the_idle_timeout) {
  http_options o;
  o.idle_timeout = 300ms;
  auto s = start(o, [](http_server&) {});
  client c(s.port);
  c.send(get("/health"));
  EXPECT_EQ(status_of(c.read_answer()), 200);
  const auto began = std::chrono::steady_clock::now();
  EXPECT_EQ(c.read_to_end(), "") << "an idle connection is closed without an answer";
  EXPECT_TRUE(c.ended());
  EXPECT_LT(std::chrono::steady_clock::now() - began, 3s);
}

TEST(http_limits, connections_per_client_are_capped_other_clients_still_served) {
  http_options o;
  o.max_connections_per_client = 3;
  auto s = start(o, [](http_server&) {});
  std::vector<std::unique_ptr<client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<client>(s.port, "127.0.0.1"));
    held.back()->send(get("/health"));
    ASSERT_EQ(status_of(held.back()->read_answer()), 200);
  }
  client over(s.port, "127.0.0.1");
  const auto refused = over.read_to_end();
  EXPECT_EQ(status_of(refused), 429) << refused;
  client other(s.port, "127.0.0.2");  // another client address
  other.send(get("/health"));
  EXPECT_EQ(status_of(other.read_answer()), 200);
}

TEST(http_limits, total_connections_are_capped_with_503) {
  http_options o;
  o.max_connections = 2;
  auto s = start(o, [](http_server&) {});
  client a(s.port), b(s.port, "127.0.0.2");
  a.send(get("/health"));
  b.send(get("/health"));
  ASSERT_EQ(status_of(a.read_answer()), 200);
  ASSERT_EQ(status_of(b.read_answer()), 200);
  client c(s.port, "127.0.0.3");
  EXPECT_EQ(status_of(c.read_to_end()), 503);
}

TEST(http_limits, idle_connections_cost_no_threads) {
  auto s = start(http_options{}, [](http_server&) {});
  const int before = thread_count();
  std::vector<std::unique_ptr<client>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<client>(s.port, "127.0.0." + std::to_string(2 + i % 50)));
    idle.back()->send(get("/health"));
    ASSERT_EQ(status_of(idle.back()->read_answer()), 200);
  }
  EXPECT_EQ(s.server->open_connections(), 200u);
  EXPECT_EQ(thread_count(), before) << "threads grew with connections";
}

TEST(http_limits, too_many_headers_431_unknown_method_501_new_version_505) {
  http_options o;
  o.max_headers = 5;
  auto s = start(o, [](http_server&) {});
  std::string many = "GET /health HTTP/1.1\r\n";
  for (int i = 0; i < 10; ++i)
    many += "X-" + std::to_string(i) + ": v\r\n";
  for (const auto& [raw, status] : std::vector<std::pair<std::string, int>>{
           {many + "\r\n", 431},
           {"GET /health HTTP/1.1\r\nHost: t\r\nX: " + std::string(40000, 'a') + "\r\n\r\n", 431},
           {"BREW /health HTTP/1.1\r\nHost: t\r\n\r\n", 501},
           {"GET /health HTTP/2.0\r\nHost: t\r\n\r\n", 505},
           {"GET /health%FF HTTP/1.1\r\nHost: t\r\n\r\n", 400},
           {"GET /nowhere/%C0%AF HTTP/1.1\r\nHost: t\r\n\r\n", 400},
       }) {
    client c(s.port);
    c.send(raw);
    const auto answer = c.read_answer();
    EXPECT_EQ(status_of(answer), status) << raw.substr(0, 80) << " -> " << answer;
    EXPECT_NE(answer.find("\"error\""), std::string::npos) << answer;
  }
  {
    // Many fields, each small, arriving in pieces: the limit holds across reads too.
    client c(s.port);
    std::string big = "GET /health HTTP/1.1\r\nHost: t\r\n";
    for (int i = 0; i < 4; ++i)
      big += "X-" + std::to_string(i) + ": " + std::string(10000, 'b') + "\r\n";
    for (std::size_t at = 0; at < big.size(); at += 4000) {
      c.send(big.substr(at, 4000));
      std::this_thread::sleep_for(2ms);  // separate segments, separate reads
    }
    c.send("\r\n");
    const auto answer = c.read_answer();
    EXPECT_EQ(status_of(answer), 431) << answer.substr(0, 200);
  }
  {
    // The same head in one send: the last read completes it past the limit.
    client c(s.port);
    std::string big = "GET /health HTTP/1.1\r\nHost: t\r\n";
    for (int i = 0; i < 4; ++i)
      big += "X-" + std::to_string(i) + ": " + std::string(9000, 'b') + "\r\n";
    c.send(big + "\r\n");
    const auto answer = c.read_answer();
    EXPECT_EQ(status_of(answer), 431) << answer.substr(0, 200);
  }
  client c(s.port);
  c.send("HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto head = c.read_until([](const std::string& x) -> std::size_t {
    const auto end = x.find("\r\n\r\n");
    return end == std::string::npos ? 0 : end + 4;
  });
  EXPECT_EQ(status_of(head), 200);
  EXPECT_NE(head.find("Content-Length: 2"), std::string::npos) << head;
}

TEST(http_limits, async_answers_come_from_any_thread_and_keep_alive_continues) {
  std::vector<std::thread> workers;
  std::mutex mu;
  auto s = start(http_options{}, [&](http_server& h) {
    h.route_async("GET", "/later", [&](request&& req, responder reply) {
      std::lock_guard lock(mu);
      workers.emplace_back([reply, path = req.path] {
        std::this_thread::sleep_for(20ms);  // the work this stands for
        reply.send(response{200, "text/plain", "done " + path, {}});
      });
    });
    h.route_async("GET", "/computed", [](request&&, responder reply) {
      reply.send_from_server([] { return response{201, "text/plain", "made here", {}}; });
    });
  });
  client c(s.port);
  c.send(get("/later") + get("/computed"));  // pipelined
  const auto a = c.read_answer();
  EXPECT_EQ(status_of(a), 200);
  EXPECT_NE(a.find("done /later"), std::string::npos) << a;
  const auto b = c.read_answer();
  EXPECT_EQ(status_of(b), 201) << b;
  std::lock_guard lock(mu);
  for (auto& t : workers)
    t.join();
}

TEST(http_limits, the_guard_answers_500_for_throws_and_lost_answers_and_counts_them) {
  auto s = start(http_options{}, [](http_server& h) {
    h.route("GET", "/throws", [](const request&) -> response { throw std::runtime_error("boom"); });
    h.route_async("GET", "/forgets", [](request&&, responder) {});
  });
  for (const char* path : {"/throws", "/forgets"}) {
    client c(s.port);
    c.send(get(path));
    const auto answer = c.read_answer();
    EXPECT_EQ(status_of(answer), 500) << answer;
    EXPECT_NE(answer.find("incident"), std::string::npos) << answer;
  }
  EXPECT_EQ(s.server->internal_errors(), 2u);
  client alive(s.port);
  alive.send(get("/health"));
  EXPECT_EQ(status_of(alive.read_answer()), 200) << "the server lives on";
}

TEST(http_limits, streams_deliver_chunks_and_drop_a_reader_that_falls_behind) {
  http_options o;
  o.stream_buffer_bytes = 64 * 1024;
  std::promise<std::shared_ptr<response_stream>> opened;
  auto s = start(o, [&](http_server& h) {
    h.route_async("GET", "/events", [&](request&&, responder reply) {
      opened.set_value(reply.open_stream(200, "text/event-stream"));
    });
  });
  client c(s.port);
  c.send(get("/events"));
  auto f = opened.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  auto stream = f.get();
  ASSERT_TRUE(stream);
  EXPECT_TRUE(stream->write("data: one\n\n"));
  EXPECT_TRUE(stream->write("data: two\n\n"));
  const auto got = c.read_until([](const std::string& x) -> std::size_t {
    const auto at = x.find("data: two");
    return at == std::string::npos ? 0 : x.size();
  });
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos) << got;
  EXPECT_NE(got.find("data: one"), std::string::npos) << got;
  // The client stops reading: writes pile up past the socket buffers and then the bound.
  const std::string block(16 * 1024, 'x');
  bool dropped = false;
  for (int i = 0; i < 10'000 && !dropped; ++i) {
    dropped = !stream->write(block);
    if (i % 64 == 63) std::this_thread::sleep_for(1ms);  // lets the loop push to the socket
  }
  EXPECT_TRUE(dropped) << "a reader that takes nothing is dropped, never buffered forever";
  EXPECT_TRUE(stream->closed());
  client other(s.port, "127.0.0.2");
  other.send(get("/health"));
  EXPECT_EQ(status_of(other.read_answer()), 200);
}

TEST(http_limits, closed_stream_ends_the_chunked_answer) {
  auto s = start(http_options{}, [&](http_server& h) {
    h.route_async("GET", "/short", [](request&&, responder reply) {
      auto st = reply.open_stream(200, "text/plain");
      st->write("hello");
      st->close();
      EXPECT_FALSE(st->write("after close"));
    });
  });
  client c(s.port);
  c.send(get("/short"));
  const auto got = c.read_to_end();
  EXPECT_NE(got.find("5\r\nhello\r\n0\r\n\r\n"), std::string::npos) << got;
  EXPECT_EQ(got.find("after close"), std::string::npos);
}

TEST(http_limits, stop_lets_requests_in_flight_finish) {
  std::promise<void> entered;
  std::thread worker;
  auto s = start(http_options{}, [&](http_server& h) {
    h.route_async("GET", "/slow", [&](request&&, responder reply) {
      entered.set_value();
      worker = std::thread([reply] {
        std::this_thread::sleep_for(200ms);
        reply.send(response{200, "text/plain", "finished", {}});
      });
    });
  });
  client c(s.port);
  c.send(get("/slow"));
  ASSERT_EQ(entered.get_future().wait_for(5s), std::future_status::ready);
  client idle(s.port, "127.0.0.2");
  idle.send(get("/health"));
  ASSERT_EQ(status_of(idle.read_answer()), 200);
  s.server->stop();
  const auto answer = c.read_to_end();
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  EXPECT_EQ(idle.read_to_end(), "") << "idle connections are closed by the drain";
  worker.join();
}

TEST(http_limits, serve_bytes_answers_as_a_connection_would) {
  auto s = start(http_options{}, [](http_server& h) {
    h.route("POST", "/echo", [](const request& r) {
      return response{200, "text/plain", r.body, {}};
    });
  });
  const auto ok =
      s.server->serve_bytes("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(status_of(ok), 200) << ok;
  EXPECT_NE(ok.find("\r\n\r\nabc"), std::string::npos) << ok;
  EXPECT_EQ(status_of(s.server->serve_bytes("GET /x%FF HTTP/1.1\r\n\r\n")), 400);
  EXPECT_EQ(status_of(s.server->serve_bytes("GET /health HTTP/1.1\r\n")), 408);
  EXPECT_EQ(status_of(s.server->serve_bytes(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9\r\n\r\nab")),
            408);
  EXPECT_EQ(status_of(s.server->serve_bytes("garbage\r\n\r\n")), 400);
  EXPECT_EQ(status_of(s.server->serve_bytes("GET /health HTTP/1.1\r\n\r\n")), 400) << "no Host";
  // Framing that could hide a second request in the body is refused (request smuggling).
  for (const char* te : {"xchunked", "gzip, chunked", "identity", "chunked, gzip"}) {
    const std::string raw = std::string("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ") +
                            te + "\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    EXPECT_EQ(status_of(s.server->serve_bytes(raw)), 501) << te;
  }
  EXPECT_EQ(
      status_of(s.server->serve_bytes("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n")),
      400);
  EXPECT_EQ(s.server->internal_errors(), 0u);
}

}  // namespace
}  // namespace sundial::api
