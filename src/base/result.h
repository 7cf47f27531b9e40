#pragma once
// result<T>: the value of a fallible call, either a T or a base::error. It is the project's
// Result<T>; snake_case like every other type. Reading the value of an error result (or the
// error of a value) is a bug and aborts through SUNDIAL_ASSERT.

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/assert.h"
#include "base/error.h"

namespace sundial::base {

// Builds an error result from any call site: `return fail(errc::not_found, "no job x");`.
struct failure {
  error err;
  operator error() const { return err; }  // NOLINT: a failure is an error value
};
inline failure fail(errc code, std::string message) {
  return failure{error{code, std::move(message)}};
}

template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;

  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  result(failure f) : state_(std::in_place_index<1>, std::move(f.err)) {}
  result(error e) : state_(std::in_place_index<1>, std::move(e)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    SUNDIAL_ASSERT(ok(), "value() of an error result");
    return std::get<0>(state_);
  }
  const T& value() const& {
    SUNDIAL_ASSERT(ok(), "value() of an error result");
    return std::get<0>(state_);
  }
  T&& value() && {
    SUNDIAL_ASSERT(ok(), "value() of an error result");
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const error& err() const {
    SUNDIAL_ASSERT(!ok(), "err() of a successful result");
    return std::get<1>(state_);
  }

 private:
  std::variant<T, error> state_;
};

// result<void>: success carries nothing.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(failure f) : err_(std::move(f.err)) {}
  result(error e) : err_(std::move(e)) {}

  bool ok() const { return !err_.has_value(); }
  explicit operator bool() const { return ok(); }
  const error& err() const {
    SUNDIAL_ASSERT(!ok(), "err() of a successful result");
    return *err_;
  }

 private:
  std::optional<error> err_;
};

using status = result<void>;

}  // namespace sundial::base

// Returns the error of a failed status or result from the enclosing function, whose return
// type must be constructible from base::error (result<T>, status, or a type that converts).
#define SUNDIAL_TRY(expr)                                                     \
  do {                                                                        \
    if (auto sundial_try_ = (expr); !sundial_try_) return sundial_try_.err(); \
  } while (false)
