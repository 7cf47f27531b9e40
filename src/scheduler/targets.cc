#include "scheduler/targets.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "base/hash.h"
#include "scheduler/bits.h"

namespace sundial::scheduler {

namespace {

using base::errc;

bool eligible(const node_view& n) {
  return n.alive && !n.draining;
}

// "role=web, zone=eu:2": the tags as the job wrote them.
std::string tags_text(const std::map<std::string, std::string>& tags) {
  std::string out;
  for (const auto& [k, v] : tags) {
    if (!out.empty()) out += ", ";
    out += k + "=" + v;
  }
  return out;
}

std::string rules_text(const std::vector<tag_rule>& rules) {
  std::string out;
  for (const tag_rule& r : rules) {
    if (!out.empty()) out += ", ";
    out += r.key + "=" + r.value;
  }
  return out;
}

// Why no node qualifies, for the error a user reads in the execution's history.
base::error no_match(const target_request& req, const std::vector<tag_rule>& rules,
                     const std::vector<node_view>& nodes) {
  const std::size_t total = nodes.size();
  std::size_t dead = 0, draining = 0, matching = 0;
  for (const node_view& n : nodes) {
    if (!node_matches(n, rules)) continue;
    ++matching;
    if (!n.alive) {
      ++dead;
    } else if (n.draining) {
      ++draining;
    }
  }
  const std::string counts = fmt::format("{} dead, {} draining", dead, draining);
  if (rules.empty()) {
    return base::fail(errc::unavailable, fmt::format("no alive node to run job {} on: {} nodes, {}",
                                                     req.job, total, counts));
  }
  std::string why;
  if (matching > 0) {
    why = fmt::format("{} with {} but {}", matching, rules_text(rules), counts);
  } else {
    // Name the first tag that no node has at all, else the combination.
    for (const tag_rule& r : rules) {
      const bool any = std::any_of(nodes.begin(), nodes.end(),
                                   [&](const node_view& n) { return node_matches(n, {r}); });
      if (!any) {
        why = fmt::format("none with {}={}", r.key, r.value);
        break;
      }
    }
    if (why.empty()) why = fmt::format("none with all of {}", rules_text(rules));
  }
  return base::fail(errc::unavailable,
                    fmt::format("no alive node matches tags {{{}}}: {} nodes, {}",
                                tags_text(req.tags), total, why));
}

// Ranks `pool` (sorted by name) by the routing policy and keeps the first k.
std::vector<std::string> route(const target_request& req, std::vector<const node_view*> pool,
                               std::size_t k, std::uint64_t& cursor) {
  k = std::min(k, pool.size());
  std::vector<std::string> out;
  if (k == 0) return out;
  auto by_score = [&](auto score, bool highest_first) {
    std::vector<std::pair<std::uint64_t, const node_view*>> ranked;
    for (const node_view* n : pool)
      ranked.emplace_back(score(*n), n);
    std::stable_sort(ranked.begin(), ranked.end(), [&](const auto& a, const auto& b) {
      return highest_first ? a.first > b.first : a.first < b.first;
    });
    for (std::size_t i = 0; i < k; ++i)
      out.push_back(ranked[i].second->name);
  };
  switch (req.routing) {
    case routing_policy::random:
      by_score([&](const node_view& n) { return detail::mix2(req.seed, base::fnv1a_64(n.name)); },
               false);
      break;
    case routing_policy::round_robin:
      for (std::size_t i = 0; i < k; ++i)
        out.push_back(pool[(cursor % pool.size() + i) % pool.size()]->name);
      cursor += k;
      break;
    case routing_policy::least_busy:
      std::stable_sort(pool.begin(), pool.end(), [](const node_view* a, const node_view* b) {
        return a->running < b->running;
      });
      for (std::size_t i = 0; i < k; ++i)
        out.push_back(pool[i]->name);
      break;
    case routing_policy::consistent_hash: {
      // Rendezvous (highest random weight) hashing: a node's weight for a job depends only on
      // the two names, so adding or removing another node never changes who ranks first.
      const std::uint64_t job_hash = base::fnv1a_64(req.job);
      by_score([&](const node_view& n) { return detail::mix2(job_hash, base::fnv1a_64(n.name)); },
               true);
      break;
    }
  }
  return out;
}

}  // namespace

base::result<std::vector<tag_rule>> parse_job_tags(const std::map<std::string, std::string>& tags) {
  std::vector<tag_rule> rules;
  for (const auto& [key, raw] : tags) {
    tag_rule r{key, raw, 0};
    if (const auto colon = raw.rfind(':'); colon != std::string::npos) {
      const std::string digits = raw.substr(colon + 1);
      const bool ok = !digits.empty() && digits.size() <= 6 &&
                      digits.find_first_not_of("0123456789") == std::string::npos;
      const std::uint32_t count = ok ? static_cast<std::uint32_t>(std::stoul(digits)) : 0;
      if (count == 0) {
        return base::fail(errc::invalid_argument,
                          fmt::format("tags[{}]: \"{}\" must be \"value\" or \"value:count\" "
                                      "with a positive count",
                                      key, raw));
      }
      r.value = raw.substr(0, colon);
      r.count = count;
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

bool node_matches(const node_view& node, const std::vector<tag_rule>& rules) {
  for (const tag_rule& r : rules) {
    const auto it = node.tags.find(r.key);
    if (it == node.tags.end() || it->second != r.value) return false;
  }
  return true;
}

base::result<target_choice> choose_targets(const target_request& req,
                                           const std::vector<node_view>& nodes) {
  auto parsed = parse_job_tags(req.tags);
  if (!parsed) return parsed.err();
  const std::vector<tag_rule>& rules = *parsed;

  // Name order first, so the answer does not depend on the order of `nodes`.
  std::vector<const node_view*> pool;
  for (const node_view& n : nodes) {
    if (eligible(n) && node_matches(n, rules)) pool.push_back(&n);
  }
  std::stable_sort(pool.begin(), pool.end(),
                   [](const node_view* a, const node_view* b) { return a->name < b->name; });

  target_choice choice;
  choice.cursor = req.cursor;

  if (!req.retry_of_node.empty()) {
    const auto prev = std::find_if(nodes.begin(), nodes.end(),
                                   [&](const node_view& n) { return n.name == req.retry_of_node; });
    if (req.retry == retry_on::same_node) {
      if (prev == nodes.end() || !eligible(*prev)) {
        const char* state = prev == nodes.end() ? "is not a member"
                            : !prev->alive      ? "is dead"
                                                : "is draining";
        return base::fail(errc::unavailable, fmt::format("retry_on same_node: node {} of job {} {}",
                                                         req.retry_of_node, req.job, state));
      }
      choice.nodes.push_back(prev->name);
      return choice;
    }
    std::vector<const node_view*> others;
    for (const node_view* n : pool) {
      if (n->name != req.retry_of_node) others.push_back(n);
    }
    if (!others.empty()) {
      choice.nodes = route(req, others, 1, choice.cursor);
      return choice;
    }
    if (pool.empty()) return no_match(req, rules, nodes);
    choice.nodes.push_back(pool.front()->name);  // only the failed node qualifies
    return choice;
  }

  if (pool.empty()) return no_match(req, rules, nodes);
  std::uint32_t count = 0;  // the lowest count among counted tags (SEMANTICS.md)
  for (const tag_rule& r : rules) {
    if (r.count != 0 && (count == 0 || r.count < count)) count = r.count;
  }
  if (count == 0 && req.target == target_mode::all) {
    for (const node_view* n : pool)
      choice.nodes.push_back(n->name);
    return choice;
  }
  choice.nodes = route(req, pool, count == 0 ? 1 : count, choice.cursor);
  return choice;
}

}  // namespace sundial::scheduler
