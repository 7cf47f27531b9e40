// Fuzzes the whole API path without sockets: request parsing, limits, target decoding, routing
// and every handler of a real one-node server (Raft, LMDB, the job store), through
// server::serve_http_bytes. Whatever the bytes, the server must answer, never with a 500 (the
// last-resort guard's answer: an exception or a lost answer), and never crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "base/log.h"
#include "server/server.h"

namespace {

sundial::server::server* node = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)sundial::base::init_logging("error");
  sundial::server::server_options o;
  o.dev = true;
  o.node_name = "fuzz";
  o.rpc_addr = "127.0.0.1:0";
  o.http_addr = "127.0.0.1:0";
  o.tick = std::chrono::milliseconds(20);
  // Small limits, so that the fuzzer reaches them.
  o.http.max_body_bytes = 64 * 1024;
  o.http.max_header_bytes = 8 * 1024;
  o.max_restore_bytes = 256 * 1024;
  auto s = sundial::server::server::start(o);
  if (!s) {
    std::fprintf(stderr, "cannot start the server: %s\n", s.err().message.c_str());
    std::abort();
  }
  node = s->release();  // lives for the whole run (libFuzzer exits without returning)
  // Wait until the node leads, so writes reach the handlers' commit paths.
  for (int i = 0; i < 500; ++i) {
    const std::string r = node->serve_http_bytes("GET /v1/isleader HTTP/1.1\r\nHost: f\r\n\r\n");
    if (r.rfind("HTTP/1.1 200", 0) == 0) break;
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  // Leaving would stop the node (and so the run): the one request the fuzzer may not send.
  if (raw.find("/v1/leave") != std::string_view::npos) return 0;
  const std::string answer = node->serve_http_bytes(raw);
  if (answer.rfind("HTTP/1.", 0) != 0) {
    std::fprintf(stderr, "no HTTP answer: %.200s\n", answer.c_str());
    std::abort();
  }
  if (answer.compare(9, 3, "500") == 0) {
    std::fprintf(stderr, "500 for a client's bytes: %.300s\n", answer.c_str());
    std::abort();
  }
  return 0;
}
