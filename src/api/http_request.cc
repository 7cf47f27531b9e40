#include "api/http_request.h"

#include "base/utf8.h"

namespace sundial::api {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A short, printable excerpt of client bytes for an error message (never the whole thing).
std::string excerpt(std::string_view s) {
  constexpr std::size_t max = 64;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

base::status check_text(std::string_view decoded, std::string_view raw, const std::string& what) {
  if (auto problem = base::text_problem(decoded))
    return base::fail(base::errc::invalid_argument,
                      what + " \"" + excerpt(raw) + "\" is not valid text once decoded: " +
                          *problem + " (percent-encoded bytes must form UTF-8 without NUL)");
  return {};
}

}  // namespace

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

base::result<decoded_target> decode_target(std::string_view target) {
  std::string rooted;  // the absolute form's "http://host?q": "/?q"
  // The absolute form (RFC 9112 3.2.2), which a server must accept: the authority is dropped.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && target.substr(0, scheme.size()) == scheme) {
      const auto slash = target.find_first_of("/?", scheme.size());
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      if (!target.empty() && target.front() == '?') {
        // "http://host?x" has an empty path: "/" with the query.
        rooted = "/" + std::string(target);
        target = rooted;
      }
      break;
    }
  }
  // A fragment is the client's business and never part of a request (RFC 9110 4.2.5).
  target = target.substr(0, target.find('#'));
  if (target.empty() || target.front() != '/')
    return base::fail(base::errc::invalid_argument,
                      "the request target \"" + excerpt(target) + "\" is not an absolute path");
  const auto q = target.find('?');
  const std::string_view raw_path = target.substr(0, q);
  decoded_target out;
  auto path = percent_decode(raw_path, false);
  if (!path)
    return base::fail(base::errc::invalid_argument,
                      "the path \"" + excerpt(raw_path) + "\" has malformed percent-encoding");
  if (auto st = check_text(*path, raw_path, "the path"); !st) return st.err();
  out.path = std::move(*path);
  if (q == std::string_view::npos) return out;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view part = rest.substr(0, amp);
    const auto eq = part.find('=');
    const std::string_view raw_key = part.substr(0, eq);
    auto k = percent_decode(raw_key, true);
    auto v = eq == std::string_view::npos ? std::optional<std::string>("")
                                          : percent_decode(part.substr(eq + 1), true);
    if (!k || !v)
      return base::fail(base::errc::invalid_argument,
                        "query parameter \"" + excerpt(part) + "\" has malformed percent-encoding");
    if (auto st = check_text(*k, raw_key, "the query parameter name"); !st) return st.err();
    if (auto st = check_text(*v, part, "the value of query parameter \"" + excerpt(*k) + "\""); !st)
      return st.err();
    if (!k->empty()) out.query[std::move(*k)] = std::move(*v);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

bool names_unsupported_version(std::string_view request) {
  const auto eol = request.find_first_of("\r\n");
  std::string_view line = request.substr(0, eol);
  const auto space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view v = line.substr(space + 1);
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  const bool shaped = v.size() >= 6 && v.substr(0, 5) == "HTTP/" && digit(v[5]) &&
                      (v.size() == 6 || (v.size() == 8 && v[6] == '.' && digit(v[7])));
  return shaped && v != "HTTP/1.0" && v != "HTTP/1.1";
}

std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "OTHER";
}

}  // namespace sundial::api
