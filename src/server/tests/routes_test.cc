// The OpenAPI document (src/api/openapi.json) against the routes a real server registers.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "api/openapi.h"
#include "server/server.h"

namespace sundial::server {
namespace {

// Operations described ahead of the code that serves them (a branch in flight): tolerated while
// no route serves them, checked like every other operation once one does. None at present.
const std::vector<std::string> pending = {};

// Prefix routes registered only to refuse, which describing would mislead: jobs_api registers
// PATCH on /v1/jobs/ to answer 405 itself (the router would anyway; Dkron has no such route),
// and cluster_api's "/v1/" prefix takes every method so that unclaimed paths under /v1/ stay
// 404 and only GET /v1/ answers.
bool undescribed(const api::route_info& r) {
  if (!r.prefix) return false;
  if (r.pattern == "/v1/jobs/") return r.method == "PATCH";
  if (r.pattern == "/v1/") return r.method != "GET";
  return false;
}

TEST(routes, every_route_is_described_and_every_description_is_served) {
  server_options o;
  o.node_name = "routes-test";
  o.dev = true;
  o.rpc_addr = "127.0.0.1:0";
  o.http_addr = "127.0.0.1:0";
  auto s = server::start(o);
  ASSERT_TRUE(s.ok()) << s.err().message;
  std::vector<api::route_info> routes = (*s)->http_routes();
  (*s)->stop();

  auto has = [&](const char* method, const char* path) {
    return std::any_of(routes.begin(), routes.end(),
                       [&](const auto& r) { return r.method == method && r.pattern == path; });
  };
  EXPECT_TRUE(has("GET", "/metrics"));
  EXPECT_TRUE(has("GET", "/v1/openapi.json"));
  EXPECT_TRUE(has("GET", "/v1/jobs/"));
  routes.erase(std::remove_if(routes.begin(), routes.end(), undescribed), routes.end());

  const auto doc = nlohmann::json::parse(api::openapi_json(), nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "src/api/openapi.json is not valid JSON";
  for (const auto& problem : api::openapi_route_mismatches(doc, routes)) {
    const bool tolerated = std::any_of(pending.begin(), pending.end(), [&](const auto& p) {
      return problem.rfind(p + "is described in openapi.json, but", 0) == 0;
    });
    if (tolerated) {
      std::cout << "pending (served after the merge): " << problem << "\n";
      continue;
    }
    ADD_FAILURE() << problem;
  }
}

}  // namespace
}  // namespace sundial::server
