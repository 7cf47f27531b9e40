#include "cli/http_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cctype>

#include "api/http_server.h"

namespace sundial::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

base::result<http_reply> http_call(const std::string& method, const std::string& address,
                                   const std::string& target, const std::string& body) {
  auto hp = api::split_host_port(address);
  if (!hp) return hp.err();
  asio::io_context io;
  beast::tcp_stream stream(io);
  beast::error_code ec;
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(hp->first, std::to_string(hp->second), ec);
  if (ec)
    return base::fail(base::errc::unavailable, "cannot resolve " + address + ": " + ec.message());
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(endpoints, ec);
  if (ec) {
    return base::fail(base::errc::unavailable, "cannot reach a Sundial node at " + address + " (" +
                                                   ec.message() +
                                                   "); is it running? use --address");
  }
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, address);
  req.set(http::field::user_agent, "sundial-cli");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req, ec);
  if (ec)
    return base::fail(base::errc::io_error, "request to " + address + " failed: " + ec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res, ec);
  if (ec)
    return base::fail(base::errc::io_error, "no answer from " + address + ": " + ec.message());
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  http_reply reply{static_cast<int>(res.result_int()), std::move(res.body()), {}};
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(f.value());
  }
  return reply;
}

std::string url_encode(std::string_view s) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(digits[c >> 4]);
      out.push_back(digits[c & 15]);
    }
  }
  return out;
}

}  // namespace sundial::cli
