#include "api/http_server.h"

#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

namespace sundial::api {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct exchange {
  std::string received;           // everything the server sent until it closed
  boost::system::error_code end;  // how the connection ended (eof when cleanly)
  bool write_failed = false;
};

// Sends `raw` on a fresh connection, then reads until the server closes.
exchange talk(int port, const std::string& raw) {
  asio::io_context io;
  tcp::socket sock(io);
  sock.connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  exchange x;
  boost::system::error_code ec;
  asio::write(sock, asio::buffer(raw), ec);
  x.write_failed = static_cast<bool>(ec);
  char buf[4096];
  while (true) {
    const std::size_t n = sock.read_some(asio::buffer(buf), ec);
    x.received.append(buf, n);
    if (ec) break;
  }
  x.end = ec;
  return x;
}

std::string get(const std::string& path, const std::string& method = "GET") {
  return method + " " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
}

int status_of(const std::string& answer) {
  return answer.size() > 12 ? std::stoi(answer.substr(9, 3)) : 0;
}

struct recorded {
  std::string method, route;
  int status;
};

class http_server_test : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.route("GET", "/v1/things", [](const request&) {
      return response{200, "text/plain", "list", {}};
    });
    server_.route("GET", "/v1/things/", [](const request& r) {
      return response{200, "text/plain", "thing " + r.path, {}};
    });
    server_.route("POST", "/v1/things/", [this](const request&) {
      ++posts_;
      return response{201, "text/plain", "made", {}};
    });
    server_.route("GET", "/custom", [](const request&) {
      return response{200, "text/plain", "mine", {{"X-Whom", "the-handler"}}};
    });
    server_.set_default_header("X-Whom", "node-a");
    server_.set_request_observer([this](const request_record& r) {
      std::lock_guard lock(mu_);
      records_.push_back({std::string(r.method), std::string(r.route), r.status});
    });
  }

  int start() {
    auto port = server_.start("127.0.0.1:0");
    EXPECT_TRUE(port.ok());
    return port.ok() ? *port : 0;
  }

  std::vector<recorded> records() {
    std::lock_guard lock(mu_);
    return records_;
  }

  static http_options small_limits() {
    http_options o;
    o.max_body_bytes = 1024;
    o.max_connections = 16;
    return o;
  }
  http_server server_{small_limits()};
  std::atomic<int> posts_{0};
  std::mutex mu_;
  std::vector<recorded> records_;
};

TEST_F(http_server_test, lists_exact_and_prefix_routes_in_order) {
  const auto routes = server_.routes();
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].pattern, "/custom");
  EXPECT_FALSE(routes[0].prefix);
  EXPECT_EQ(routes[1].pattern, "/v1/things");
  EXPECT_FALSE(routes[1].prefix);
  EXPECT_EQ(routes[2].method, "GET");
  EXPECT_EQ(routes[2].pattern, "/v1/things/");
  EXPECT_TRUE(routes[2].prefix);
  EXPECT_EQ(routes[3].method, "POST");
  EXPECT_TRUE(routes[3].prefix);
}

TEST_F(http_server_test, default_header_is_on_answers_and_errors) {
  const int port = start();
  for (const auto& [raw, status] :
       std::vector<std::pair<std::string, int>>{{get("/v1/things"), 200},
                                                {get("/v1/things/x"), 200},
                                                {get("/nowhere"), 404},
                                                {get("/v1/things", "DELETE"), 405},
                                                {"NOT HTTP AT ALL\r\n\r\n", 400}}) {
    const auto x = talk(port, raw);
    EXPECT_EQ(status_of(x.received), status) << raw;
    EXPECT_NE(x.received.find("X-Whom: node-a\r\n"), std::string::npos) << x.received;
  }
  // A handler's own header of that name wins, and is not sent twice.
  const auto x = talk(port, get("/custom"));
  EXPECT_NE(x.received.find("X-Whom: the-handler\r\n"), std::string::npos) << x.received;
  EXPECT_EQ(x.received.find("node-a"), std::string::npos) << x.received;
}

TEST_F(http_server_test, observer_sees_route_patterns_never_raw_paths) {
  const int port = start();
  talk(port, get("/v1/things/abc"));
  talk(port, get("/v1/things/def?x=1"));
  talk(port, get("/v1/things"));
  talk(port, get("/secret/path/42"));
  talk(port, get("/v1/things", "BREW"));
  const auto r = records();
  ASSERT_EQ(r.size(), 5u);
  EXPECT_EQ(r[0].route, "/v1/things/");
  EXPECT_EQ(r[0].method, "GET");
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[1].route, "/v1/things/");
  EXPECT_EQ(r[2].route, "/v1/things");
  EXPECT_EQ(r[3].route, "unmatched");
  EXPECT_EQ(r[3].status, 404);
  EXPECT_EQ(r[4].route, "unmatched");
  EXPECT_EQ(r[4].method, "OTHER");  // any token may be a method: the label set stays bounded
  EXPECT_EQ(r[4].status, 501);      // a method no route of this server implements
}

TEST_F(http_server_test, oversize_body_is_413_changes_nothing_and_closes_cleanly) {
  const int port = start();
  // 2 MiB against a 1 KiB limit: the client is still sending when the server answers, and
  // must still read the whole answer and then a clean end of stream, not a reset.
  const std::string body(2 << 20, 'x');
  const auto x = talk(port, "POST /v1/things/a HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_FALSE(x.write_failed);
  EXPECT_EQ(x.end, asio::error::eof) << x.end.message();
  EXPECT_EQ(status_of(x.received), 413) << x.received;
  EXPECT_NE(x.received.find("\"error\""), std::string::npos) << x.received;
  EXPECT_NE(x.received.find("limit of 1024 bytes"), std::string::npos) << x.received;
  EXPECT_NE(x.received.find("Connection: close"), std::string::npos) << x.received;
  EXPECT_NE(x.received.find("X-Whom: node-a"), std::string::npos) << x.received;
  EXPECT_EQ(posts_.load(), 0);
  const auto r = records();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].route, "/v1/things/");  // counted under the route it was meant for
  EXPECT_EQ(r[0].method, "POST");
  EXPECT_EQ(r[0].status, 413);
}

TEST_F(http_server_test, oversize_chunked_body_is_413_too) {
  const int port = start();
  std::string raw = "POST /v1/things/a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 2048; ++i)
    raw += "400\r\n" + std::string(1024, 'y') + "\r\n";
  raw += "0\r\n\r\n";
  const auto x = talk(port, raw);
  EXPECT_EQ(status_of(x.received), 413) << x.received;
  EXPECT_EQ(x.end, asio::error::eof) << x.end.message();
  EXPECT_EQ(posts_.load(), 0);
}

TEST_F(http_server_test, body_within_the_limit_reaches_the_handler) {
  const int port = start();
  const std::string body(1024, 'z');
  const auto x = talk(port,
                      "POST /v1/things/a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                      "Content-Length: 1024\r\n\r\n" +
                          body);
  EXPECT_EQ(status_of(x.received), 201) << x.received;
  EXPECT_EQ(posts_.load(), 1);
}

TEST(http_server_pretty, pretty_indents_json_answers_only) {
  http_server server;
  server.route("GET", "/j", [](const request&) {
    return response{200,
                    "application/json",
                    R"({"a":[1,2],"b":"x"})"
                    "\n",
                    {}};
  });
  server.route("GET", "/t", [](const request&) {
    return response{200, "text/plain", R"({"a":1})", {}};
  });
  auto port = server.start("127.0.0.1:0");
  ASSERT_TRUE(port.ok());
  const auto body = [](const exchange& x) {
    return x.received.substr(x.received.find("\r\n\r\n") + 4);
  };
  EXPECT_EQ(body(talk(*port, get("/j"))), "{\"a\":[1,2],\"b\":\"x\"}\n");
  EXPECT_EQ(body(talk(*port, get("/j?pretty"))),
            "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": \"x\"\n}\n");
  EXPECT_EQ(body(talk(*port, get("/j?pretty=false"))), "{\"a\":[1,2],\"b\":\"x\"}\n");
  EXPECT_EQ(body(talk(*port, get("/t?pretty"))), "{\"a\":1}") << "only JSON is re-indented";
  server.stop();
}

}  // namespace
}  // namespace sundial::api
