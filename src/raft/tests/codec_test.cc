#include <gtest/gtest.h>

#include "raft/codec.h"

namespace sundial::raft {
namespace {

TEST(codec, message_round_trip) {
  message m;
  m.type = message_type::append;
  m.to = node_id{2};
  m.from = node_id{1};
  m.term = term_t{7};
  m.log_term = term_t{6};
  m.index = index_t{41};
  m.commit = index_t{40};
  m.entries.push_back(entry{term_t{7}, index_t{42}, entry_type::normal, payload("hello")});
  m.entries.push_back(entry{
      term_t{7}, index_t{43}, entry_type::conf_change,
      payload(codec::encode(conf_change{conf_change_type::add_learner, node_id{4}, "addr"}))});
  m.reject = true;
  m.reject_hint = index_t{3};
  m.context = "ctx";
  m.snap = std::make_shared<const snapshot>(
      snapshot{payload("img"), snapshot_metadata{conf_state{{node_id{1}, node_id{2}}, {node_id{4}}},
                                                 index_t{9}, term_t{3}}});
  auto back = codec::decode_message(codec::encode(m));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->type, m.type);
  EXPECT_EQ(back->to, m.to);
  EXPECT_EQ(back->term, m.term);
  EXPECT_EQ(back->log_term, m.log_term);
  EXPECT_EQ(back->index, m.index);
  EXPECT_EQ(back->commit, m.commit);
  EXPECT_EQ(back->entries, m.entries);
  EXPECT_EQ(back->reject, m.reject);
  EXPECT_EQ(back->reject_hint, m.reject_hint);
  EXPECT_EQ(back->context, m.context);
  ASSERT_TRUE(back->snap);
  EXPECT_EQ(*back->snap, *m.snap);
  auto cc = codec::decode_conf_change(back->entries[1].data.view());
  ASSERT_TRUE(cc.ok());
  EXPECT_EQ(cc->node, node_id{4});
  EXPECT_EQ(cc->context, "addr");
}

TEST(codec, garbage_is_an_error_not_a_crash) {
  for (std::string bad :
       {std::string("\xff\xff\xff"), std::string("\x08\x63", 2), std::string(100, '\x0a')}) {
    auto m = codec::decode_message(bad);
    EXPECT_FALSE(m.ok());
    if (!m.ok()) {
      EXPECT_EQ(m.err().code, base::errc::corruption);
    }
  }
  EXPECT_FALSE(codec::decode_conf_change("").ok()) << "node id 0";
  hard_state hs{term_t{3}, node_id{2}, index_t{9}};
  EXPECT_EQ(codec::decode_hard_state(codec::encode(hs)).value(), hs);
}

}  // namespace
}  // namespace sundial::raft
