#include "api/multipart.h"

#include <algorithm>
#include <cctype>

namespace sundial::api {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The value of parameter `name` in a header value such as `form-data; name="file"`.
std::optional<std::string> header_param(std::string_view value, std::string_view name) {
  const std::string v = lower(value);
  std::size_t pos = 0;
  while ((pos = v.find(lower(name) + "=", pos)) != std::string::npos) {
    // A whole parameter name: preceded by ';' or whitespace, not part of a longer name.
    if (pos > 0 && v[pos - 1] != ';' && v[pos - 1] != ' ' && v[pos - 1] != '\t') {
      ++pos;
      continue;
    }
    std::size_t start = pos + name.size() + 1;
    if (start < value.size() && value[start] == '"') {
      const std::size_t end = value.find('"', start + 1);
      if (end == std::string_view::npos) return std::nullopt;
      return std::string(value.substr(start + 1, end - start - 1));
    }
    std::size_t end = value.find(';', start);
    if (end == std::string_view::npos) end = value.size();
    std::string out(value.substr(start, end - start));
    while (!out.empty() && (out.back() == ' ' || out.back() == '\t'))
      out.pop_back();
    return out;
  }
  return std::nullopt;
}

}  // namespace

base::result<std::optional<std::string_view>> multipart_field(std::string_view content_type,
                                                              std::string_view body,
                                                              std::string_view field) {
  if (lower(content_type).rfind("multipart/form-data", 0) != 0)
    return base::fail(base::errc::invalid_argument, "the body is not multipart/form-data");
  auto boundary = header_param(content_type, "boundary");
  if (!boundary || boundary->empty())
    return base::fail(base::errc::invalid_argument,
                      "the multipart/form-data Content-Type has no boundary");
  const std::string delimiter = "--" + *boundary;
  std::size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos)
    return base::fail(base::errc::invalid_argument, "the multipart body has no parts");
  while (true) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--")
      return std::optional<std::string_view>{};  // the last part ended
    const std::size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos)
      return base::fail(base::errc::invalid_argument, "a multipart part has no end of headers");
    const std::string_view headers = body.substr(pos, headers_end - pos);
    const std::size_t content = headers_end + 4;
    const std::size_t next = body.find("\r\n" + delimiter, content);
    if (next == std::string_view::npos)
      return base::fail(base::errc::invalid_argument, "a multipart part is not terminated");
    std::optional<std::string> name;
    std::size_t line = 0;
    while (line < headers.size()) {
      std::size_t eol = headers.find("\r\n", line);
      if (eol == std::string_view::npos) eol = headers.size();
      const std::string_view h = headers.substr(line, eol - line);
      if (lower(h.substr(0, 20)) == "content-disposition:")
        name = header_param(h.substr(20), "name");
      line = eol + 2;
    }
    if (name && *name == field)
      return std::optional<std::string_view>(body.substr(content, next - content));
    pos = next + 2;
  }
}

}  // namespace sundial::api
