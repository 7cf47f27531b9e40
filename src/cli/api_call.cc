#include "cli/api_call.h"

#include <iostream>

namespace sundial::cli {

int report(const base::error& e) {
  std::cerr << "error: " << e.message << "\n";
  return exit_failed;
}

std::string describe(const http_reply& r) {
  std::string message = r.body;
  const auto body = nlohmann::json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_string())
    message = body["error"].get<std::string>();
  while (!message.empty() && message.back() == '\n')
    message.pop_back();
  return "HTTP " + std::to_string(r.status) + ": " + message;
}

int report(const http_reply& r) {
  std::cerr << "error: " << describe(r) << "\n";
  return exit_failed;
}

std::optional<nlohmann::json> call_json(const std::string& method, const std::string& address,
                                        const std::string& target, http_reply* reply) {
  auto r = http_call(method, address, target);
  if (!r) {
    report(r.err());
    return std::nullopt;
  }
  if (r->status < 200 || r->status > 299) {
    report(*r);
    return std::nullopt;
  }
  auto body = nlohmann::json::parse(r->body, nullptr, false);
  if (body.is_discarded()) {
    report(base::error{base::errc::corruption,
                       "the answer from " + address + " is not JSON: " + r->body.substr(0, 200)});
    return std::nullopt;
  }
  if (reply) *reply = std::move(r).value();
  return body;
}

}  // namespace sundial::cli
