#pragma once
// A minimal blocking HTTP/1.1 client for the CLI's commands against a node's API.

#include <map>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sundial::cli {

struct http_reply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// Any method ("GET", "PUT", "POST", "PATCH", "DELETE"); address "host:port"; `target` is the
// path and query, already encoded (see url_encode). Errors name the address on failure to
// connect.
base::result<http_reply> http_call(const std::string& method, const std::string& address,
                                   const std::string& target, const std::string& body = {});

// Percent-encodes everything but RFC 3986's unreserved characters, so a job name in any
// script or a query value with spaces or '&' survives as one path segment or value.
std::string url_encode(std::string_view s);

}  // namespace sundial::cli
