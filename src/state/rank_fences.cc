#include "state/rank_fences.h"

#include "storage/byte_order.h"

namespace sundial::state::rank_fences {
namespace {

std::string fence_key(table_tag tag, std::string_view key) {
  std::string k(1, static_cast<char>(tag));
  k.append(key);
  return k;
}

struct fence {
  std::string key;  // the table key the bucket starts at (without the tag)
  std::uint64_t count = 0;
};

std::uint64_t decode_count(std::string_view v) {
  return v.size() == 8 ? storage::get_u64(v, 0) : 0;
}

base::status put_count(txn& t, table_tag tag, std::string_view key, std::uint64_t count) {
  std::string v;
  storage::put_u64(v, count);
  return t.put(t.env().fences, fence_key(tag, key), v);
}

// The fence whose bucket holds `key` (the greatest fence <= key), if any.
base::result<std::optional<fence>> fence_of(const txn& t, table_tag tag, std::string_view key) {
  auto c = cursor::open(t, t.env().fences);
  if (!c) return c.err();
  const std::string want = fence_key(tag, key);
  MDB_val k = mdb_val(want), v;
  int rc = mdb_cursor_get((*c)->c, &k, &v, MDB_SET_RANGE);
  if (rc == 0 && mdb_view(k) != want) {
    rc = mdb_cursor_get((*c)->c, &k, &v, MDB_PREV);
  } else if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get((*c)->c, &k, &v, MDB_LAST);
  }
  if (rc == MDB_NOTFOUND) return std::optional<fence>{};
  if (rc != 0) return lmdb_error("fence lookup", rc);
  const std::string_view found = mdb_view(k);
  if (found.empty() || found[0] != static_cast<char>(tag) || found.substr(1) > key)
    return std::optional<fence>{};
  return std::optional<fence>(fence{std::string(found.substr(1)), decode_count(mdb_view(v))});
}

// Walks `n` keys of `table` from the first key >= `from`; returns the key reached.
base::result<std::optional<std::string>> step_from(const txn& t, MDB_dbi table,
                                                   std::string_view from, std::uint64_t n) {
  auto c = cursor::open(t, table);
  if (!c) return c.err();
  MDB_val k = mdb_val(from), v;
  int rc = mdb_cursor_get((*c)->c, &k, &v, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  for (std::uint64_t i = 0; i < n && rc == 0; ++i)
    rc = mdb_cursor_get((*c)->c, &k, &v, MDB_NEXT);
  if (rc == MDB_NOTFOUND) return std::optional<std::string>{};
  if (rc != 0) return lmdb_error("walk", rc);
  return std::optional<std::string>(std::string(mdb_view(k)));
}

// Number of keys of `table` in [from, to).
base::result<std::uint64_t> count_between(const txn& t, MDB_dbi table, std::string_view from,
                                          std::string_view to) {
  auto c = cursor::open(t, table);
  if (!c) return c.err();
  MDB_val k = mdb_val(from), v;
  int rc = mdb_cursor_get((*c)->c, &k, &v, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  std::uint64_t n = 0;
  while (rc == 0 && mdb_view(k) < to) {
    ++n;
    rc = mdb_cursor_get((*c)->c, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("walk", rc);
  return n;
}

}  // namespace

base::status inserted(txn& t, table_tag tag, MDB_dbi table, std::string_view key) {
  auto f = fence_of(t, tag, key);
  if (!f) return f.err();
  fence bucket = *f ? **f : fence{"", 0};  // the sentinel, created with the first key
  ++bucket.count;
  if (bucket.count <= 2 * bucket_target) return put_count(t, tag, bucket.key, bucket.count);
  // Split: the upper part of the bucket gets its own fence at its first key.
  auto middle = step_from(t, table, bucket.key, bucket_target);
  if (!middle) return middle.err();
  SUNDIAL_ASSERT(middle->has_value(), "a full bucket ends before its middle");
  SUNDIAL_TRY(put_count(t, tag, bucket.key, bucket_target));
  return put_count(t, tag, **middle, bucket.count - bucket_target);
}

base::status erased(txn& t, table_tag tag, std::string_view key) {
  auto f = fence_of(t, tag, key);
  if (!f) return f.err();
  SUNDIAL_ASSERT(f->has_value() && (*f)->count > 0, "a key left a table with no counted bucket");
  fence bucket = **f;
  --bucket.count;
  if (bucket.count == 0 && !bucket.key.empty())
    return t.erase(t.env().fences, fence_key(tag, bucket.key));
  return put_count(t, tag, bucket.key, bucket.count);
}

base::result<std::optional<std::string>> key_at(const txn& t, table_tag tag, MDB_dbi table,
                                                std::string_view from, std::uint64_t pos) {
  auto f = fence_of(t, tag, from);
  if (!f) return f.err();
  if (!*f) return step_from(t, table, from, pos);  // nothing counted: an empty table
  // Position relative to the start of `from`'s bucket, then whole buckets are skipped.
  auto c = cursor::open(t, t.env().fences);
  if (!c) return c.err();
  const std::string start = fence_key(tag, (*f)->key);
  MDB_val k = mdb_val(start), v;
  int rc = mdb_cursor_get((*c)->c, &k, &v, MDB_SET_KEY);
  if (rc != 0) return lmdb_error("fence walk", rc);
  std::string bucket_key = (*f)->key;
  std::uint64_t remaining = pos;
  {
    auto before = count_between(t, table, bucket_key, from);
    if (!before) return before.err();
    remaining += *before;
  }
  while (true) {
    const std::uint64_t count = decode_count(mdb_view(v));
    if (remaining < count) break;
    rc = mdb_cursor_get((*c)->c, &k, &v, MDB_NEXT);
    if (rc == MDB_NOTFOUND || mdb_view(k).empty() || mdb_view(k)[0] != static_cast<char>(tag))
      return std::optional<std::string>{};
    if (rc != 0) return lmdb_error("fence walk", rc);
    remaining -= count;
    bucket_key = std::string(mdb_view(k).substr(1));
  }
  return step_from(t, table, bucket_key, remaining);
}

}  // namespace sundial::state::rank_fences
