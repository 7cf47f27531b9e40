#include <gtest/gtest.h>

#include <random>

#include "exec/output_tail.h"

namespace sundial::exec {
namespace {

TEST(output_tail, keeps_everything_under_the_limit) {
  output_tail t(16);
  t.append("hello ");
  t.append("");
  t.append("world");
  EXPECT_EQ(t.str(), "hello world");
  EXPECT_FALSE(t.truncated());
  EXPECT_EQ(t.total(), 11u);
  EXPECT_LE(t.capacity(), 16u);
}

TEST(output_tail, keeps_the_exact_tail_for_any_chunking) {
  std::mt19937 rng(7);
  for (std::size_t limit : {1u, 7u, 64u, 1000u}) {
    output_tail t(limit);
    std::string all;
    for (int i = 0; i < 2000; ++i) {
      std::string chunk(std::uniform_int_distribution<std::size_t>(0, 3 * limit)(rng), 'x');
      for (char& c : chunk)
        c = static_cast<char>('a' + rng() % 26);
      t.append(chunk);
      all += chunk;
      const std::string want = all.size() > limit ? all.substr(all.size() - limit) : all;
      ASSERT_EQ(t.str(), want) << "limit " << limit << " after chunk " << i;
      ASSERT_EQ(t.total(), all.size());
      ASSERT_EQ(t.truncated(), all.size() > limit);
      ASSERT_LE(t.capacity(), limit);
    }
  }
}

TEST(output_tail, memory_stays_at_the_limit_for_ten_mebibytes) {
  constexpr std::size_t limit = 64 * 1024;
  output_tail t(limit);
  std::string chunk(4096, '\0');
  std::uint64_t written = 0;
  for (int i = 0; written < 10u * 1024 * 1024; ++i) {
    for (std::size_t j = 0; j < chunk.size(); ++j)
      chunk[j] = static_cast<char>((i + j) % 251);
    t.append(chunk);
    written += chunk.size();
    ASSERT_LE(t.capacity(), limit);
  }
  EXPECT_EQ(t.kept(), limit);
  EXPECT_TRUE(t.truncated());
  EXPECT_EQ(t.total(), written);
  // The last 16 chunks, in order.
  const std::string s = t.str();
  const int last = static_cast<int>(written / chunk.size()) - 1;
  for (int k = 0; k < 16; ++k) {
    const int i = last - 15 + k;
    for (std::size_t j = 0; j < chunk.size(); j += 997) {
      ASSERT_EQ(s[k * chunk.size() + j], static_cast<char>((i + j) % 251));
    }
  }
}

TEST(output_tail, a_zero_limit_keeps_nothing_but_counts) {
  output_tail t(0);
  t.append("abc");
  EXPECT_EQ(t.str(), "");
  EXPECT_TRUE(t.truncated());
  EXPECT_EQ(t.total(), 3u);
  EXPECT_EQ(t.capacity(), 0u);
}

}  // namespace
}  // namespace sundial::exec
