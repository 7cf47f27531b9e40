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

// Described ahead of the code that serves them (other branches of the same issue): tolerated
// while no route serves them, checked like every other operation once one does. Empty this
// list when those branches are merged.
const std::vector<std::string> pending = {"GET /v1 ",      "GET /v1/ ",       "GET /v1/members ",
                                          "GET /v1/busy ", "POST /v1/leave ", "POST /v1/restore "};

// Registered but deliberately undescribed: jobs_api registers PATCH on the /v1/jobs/ prefix
// only to answer it 405 itself, which the router would do anyway; Dkron has no such route.
bool undescribed(const api::route_info& r) {
  return r.method == "PATCH" && r.pattern == "/v1/jobs/" && r.prefix;
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
