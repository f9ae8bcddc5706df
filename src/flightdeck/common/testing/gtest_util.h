// flightdeck/common/testing/gtest_util.h: GoogleTest helpers for
// arrow::Status and arrow::Result, in the manner of arrow/testing/gtest_util.h.
//
//   ASSERT_OK(node->Shutdown());
//   ASSERT_OK_AND_ASSIGN(auto table, GenerateOrders({}));
//   ASSERT_RAISES(KeyError, store.Get("nope"));
//   WaitFor([&] { return !process->Running(); }, std::chrono::seconds(5));
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <functional>
#include <thread>

#include <arrow/result.h>
#include <arrow/status.h>
#include <gtest/gtest.h>
#include <unistd.h>

#define FD_TESTING_CONCAT_INNER(a, b) a##b
#define FD_TESTING_CONCAT(a, b) FD_TESTING_CONCAT_INNER(a, b)

#define ASSERT_OK(expr)                                                   \
  do {                                                                    \
    ::arrow::Status _st = ::flightdeck::testing::ToStatus((expr));     \
    ASSERT_TRUE(_st.ok()) << "'" #expr "' failed: " << _st.ToString();    \
  } while (false)

#define EXPECT_OK(expr)                                                   \
  do {                                                                    \
    ::arrow::Status _st = ::flightdeck::testing::ToStatus((expr));     \
    EXPECT_TRUE(_st.ok()) << "'" #expr "' failed: " << _st.ToString();    \
  } while (false)

#define FD_ASSERT_OK_AND_ASSIGN_IMPL(result_name, lhs, rexpr)             \
  auto result_name = (rexpr);                                             \
  ASSERT_TRUE(result_name.ok()) << "'" #rexpr "' failed: "                \
                                << result_name.status().ToString();       \
  lhs = std::move(result_name).ValueUnsafe();

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  FD_ASSERT_OK_AND_ASSIGN_IMPL(FD_TESTING_CONCAT(_result_, __COUNTER__), lhs, rexpr)

/// Asserts that `expr` fails with the Arrow status code `code` (e.g. KeyError).
#define ASSERT_RAISES(code, expr)                                          \
  do {                                                                     \
    ::arrow::Status _st = ::flightdeck::testing::ToStatus((expr));      \
    ASSERT_TRUE(_st.Is##code()) << "'" #expr "' gave " << _st.ToString()   \
                                << ", expected " #code;                    \
  } while (false)

namespace flightdeck::testing {

inline const arrow::Status& ToStatus(const arrow::Status& status) { return status; }
template <typename T>
arrow::Status ToStatus(const arrow::Result<T>& result) {
  return result.status();
}

/// A fresh, empty directory under the system's temp folder, named after
/// `prefix`, this process and the running test, so parallel tests never
/// share one. The caller removes it (typically in TearDown).
inline std::filesystem::path FreshTestDir(std::string_view prefix) {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(prefix) + "-" + std::to_string(::getpid());
  if (test != nullptr) name += std::string("-") + test->test_suite_name() + "-" + test->name();
  for (char& c : name) {
    if (c == '/') c = '_';  // parameterized test names hold '/'
  }
  auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it
/// held. For waiting on other processes, never as a fixed sleep.
inline bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
  return true;
}

}  // namespace flightdeck::testing
