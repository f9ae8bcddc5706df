// flightdeck/temporal/workflow/when.h: waiting on several futures at once.
//
//   std::vector<Future<int>> parts;
//   for (int p = 0; p < 4; ++p) parts.push_back(ctx.ExecuteActivity<int>("Work", opts, p));
//   auto all = co_await WhenAll(parts);   // Result<std::vector<Result<int>>>, always OK
//   size_t first = co_await WhenAny(std::vector<Future<int>>{a, b});   // index of the winner
//
// Both are deterministic: WhenAll keeps the input order; WhenAny reports the
// future that resolved first in workflow (history) order, ties broken by the
// lowest index. Neither cancels the futures that lost.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "flightdeck/temporal/workflow/future.h"

namespace flightdeck::temporal::workflow {

/// Resolves when every future has; yields their outcomes in input order. An
/// empty list resolves at once.
template <typename T>
Task<std::vector<Outcome<T>>> WhenAll(std::vector<Future<T>> futures) {
  std::vector<Outcome<T>> outcomes;
  outcomes.reserve(futures.size());
  for (auto& future : futures) outcomes.push_back(co_await future);
  co_return outcomes;
}

/// Waits for every future; yields their values in input order, or the first
/// error in input order.
///
///   FLIGHTDECK_CO_ASSIGN_OR_RAISE(std::vector<int> values, co_await WhenAllSucceed(parts));
template <typename T>
Task<std::vector<T>> WhenAllSucceed(std::vector<Future<T>> futures) {
  std::vector<T> values;
  values.reserve(futures.size());
  arrow::Status first_error;
  for (auto& future : futures) {
    Outcome<T> outcome = co_await future;
    if (!outcome.ok()) {
      if (first_error.ok()) first_error = outcome.status();
    } else {
      values.push_back(std::move(*outcome));
    }
  }
  if (!first_error.ok()) co_return first_error;
  co_return values;
}

/// Resolves with the index of the first future to resolve. Fails with
/// Invalid for an empty list.
template <typename T>
Future<size_t> WhenAny(const std::vector<Future<T>>& futures) {
  if (futures.empty()) return Future<size_t>::Ready(arrow::Status::Invalid("WhenAny of no futures"));
  for (size_t index = 0; index < futures.size(); ++index) {
    if (futures[index].ready()) return Future<size_t>::Ready(index);
  }
  Promise<size_t> winner;
  for (size_t index = 0; index < futures.size(); ++index) {
    futures[index].OnReady([winner, index] { winner.Resolve(index); });
  }
  return winner.future();
}

/// WhenAny over futures of different types.
template <typename... Ts>
Future<size_t> WhenAnyOf(const Future<Ts>&... futures) {
  Promise<size_t> winner;
  size_t index = 0;
  bool done = false;
  auto watch = [&](const auto& future) {
    const size_t my_index = index++;
    if (done) return;
    if (future.ready()) {
      winner.Resolve(my_index);
      done = true;
      return;
    }
    future.OnReady([winner, my_index] { winner.Resolve(my_index); });
  };
  (watch(futures), ...);
  return winner.future();
}

}  // namespace flightdeck::temporal::workflow
