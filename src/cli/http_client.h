#pragma once
// A minimal blocking HTTP/1.1 client for the CLI's commands against a node's API.

#include <string>

#include "base/result.h"

namespace sundial::cli {

struct http_reply {
  int status = 0;
  std::string body;
};

// method "GET"/"PUT"/"DELETE"; address "host:port"; errors name the address on failure to connect.
base::result<http_reply> http_call(const std::string& method, const std::string& address,
                                   const std::string& target, const std::string& body = {});

}  // namespace sundial::cli
