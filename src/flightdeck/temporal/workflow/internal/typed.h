// flightdeck/temporal/workflow/internal/typed.h: decoding argument lists and
// deducing signatures of user callables, shared by workflow and activity
// registration.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <arrow/result.h>
#include <arrow/status.h>

#include "flightdeck/temporal/converter/payload_converter.h"

namespace flightdeck::temporal::internal {

template <typename... Ts, size_t... I>
arrow::Result<std::tuple<Ts...>> DecodeArgsImpl(const Payloads& payloads,
                                                std::index_sequence<I...>) {
  std::tuple<arrow::Result<Ts>...> parts{FromPayloads<Ts>(payloads, static_cast<int>(I))...};
  arrow::Status status;
  auto check = [&](const arrow::Status& part, size_t index) {
    if (status.ok() && !part.ok()) {
      status = part.WithMessage("argument ", index, ": ", part.message());
    }
  };
  (check(std::get<I>(parts).status(), I), ...);
  (void)check;  // unused for empty argument lists
  ARROW_RETURN_NOT_OK(status);
  return std::tuple<Ts...>{std::move(std::get<I>(parts)).ValueUnsafe()...};
}

/// Decodes payload i into the i-th type; errors name the argument index.
template <typename... Ts>
arrow::Result<std::tuple<Ts...>> DecodeArgs(const Payloads& payloads) {
  return DecodeArgsImpl<Ts...>(payloads, std::index_sequence_for<Ts...>{});
}

/// Encodes a result value: nothing for void-like results.
template <typename R>
arrow::Result<std::optional<Payload>> EncodeResult(const R& value) {
  ARROW_ASSIGN_OR_RAISE(Payload payload, ToPayload(value));
  return std::optional<Payload>(std::move(payload));
}

/// Signature of a callable: R(Args...).
template <typename F>
struct CallableTraits : CallableTraits<decltype(&F::operator())> {};
template <typename R, typename... Args>
struct CallableTraits<R (*)(Args...)> {
  using Return = R;
  using ArgsTuple = std::tuple<Args...>;
};
template <typename R, typename... Args>
struct CallableTraits<R(Args...)> : CallableTraits<R (*)(Args...)> {};
template <typename C, typename R, typename... Args>
struct CallableTraits<R (C::*)(Args...) const> : CallableTraits<R (*)(Args...)> {};
template <typename C, typename R, typename... Args>
struct CallableTraits<R (C::*)(Args...)> : CallableTraits<R (*)(Args...)> {};

/// T of arrow::Result<T>; void for arrow::Status.
template <typename R>
struct ResultValue;
template <>
struct ResultValue<arrow::Status> {
  using type = void;
};
template <typename T>
struct ResultValue<arrow::Result<T>> {
  using type = T;
};

}  // namespace flightdeck::temporal::internal
