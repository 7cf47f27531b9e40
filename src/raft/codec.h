#pragma once
// Conversion between the core's values (types.h) and their wire form (proto/raft.proto).
// Decoding checks what protobuf cannot: enum ranges and sizes. Bad bytes are an error, never a
// crash.

#include <string>
#include <string_view>

#include "base/result.h"
#include "raft/types.h"

namespace sundial::raft::codec {

std::string encode(const message& m);
base::result<message> decode_message(std::string_view bytes);

std::string encode(const conf_change& cc);
base::result<conf_change> decode_conf_change(std::string_view bytes);

std::string encode(const hard_state& hs);
base::result<hard_state> decode_hard_state(std::string_view bytes);

std::string encode(const entry& e);
base::result<entry> decode_entry(std::string_view bytes);

std::string encode(const snapshot_metadata& md);
base::result<snapshot_metadata> decode_snapshot_metadata(std::string_view bytes);

}  // namespace sundial::raft::codec
