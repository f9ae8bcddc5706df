// ActivityKeepAlive on a real dev server: an activity blocked in one long
// call outlives several heartbeat timeouts on its first attempt while it
// keeps alive, and without it the server times the same activity out.
#include "flightdeck/pipeline/activity_keep_alive.h"

#include <condition_variable>
#include <mutex>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"
#include "flightdeck/temporal/client/client.h"
#include "flightdeck/temporal/client/connection.h"
#include "flightdeck/temporal/testing/embedded_temporal.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::pipeline {
namespace {

using namespace std::chrono_literals;
namespace tw = temporal::workflow;
namespace enums = ::temporal::api::enums::v1;

constexpr auto kHeartbeatTimeout = 1s;

// Holds the "Hold" activity until the test releases it.
struct Gate {
  std::mutex mutex;
  std::condition_variable changed;
  bool open = false;
};
Gate gate;

void OpenGate() {
  {
    std::lock_guard<std::mutex> lock(gate.mutex);
    gate.open = true;
  }
  gate.changed.notify_all();
}

tw::Task<int> HoldOnce(tw::WorkflowContext& ctx, bool keep_alive) {
  tw::ActivityOptions options;
  options.start_to_close_timeout = 120s;
  options.heartbeat_timeout = kHeartbeatTimeout;
  tw::RetryPolicy once;
  once.maximum_attempts = 1;
  options.retry_policy = once;
  co_return co_await ctx.ExecuteActivity<int>("Hold", options, keep_alive);
}

// One dev server and worker for the suite: starting and stopping a server
// costs more than both tests.
class ActivityKeepAliveTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = temporal::EmbeddedTemporal::Start({});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto conn = temporal::Connection::Connect({.target = server_->target()});
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    client_ = *temporal::Client::Make(*conn);
    auto worker = temporal::Worker::Make(*conn, {.task_queue = "keep-alive"});
    ASSERT_TRUE(worker.ok()) << worker.status().ToString();
    worker_ = std::move(*worker);
    ASSERT_TRUE(worker_->RegisterWorkflow("HoldOnce", &HoldOnce).ok());
    ASSERT_TRUE(worker_
                    ->RegisterActivity("Hold",
                                       [](temporal::ActivityContext& ctx,
                                          bool keep_alive) -> arrow::Result<int> {
                                         std::optional<ActivityKeepAlive> alive;
                                         if (keep_alive) alive.emplace(ctx);
                                         std::unique_lock<std::mutex> lock(gate.mutex);
                                         gate.changed.wait(lock, [] { return gate.open; });
                                         return ctx.info().attempt;
                                       })
                    .ok());
    ASSERT_TRUE(worker_->Start().ok());
  }

  static void TearDownTestSuite() {
    OpenGate();
    if (worker_) EXPECT_OK(worker_->Shutdown());
    worker_.reset();
    client_.reset();
    if (server_) EXPECT_OK(server_->Stop());
    server_.reset();
  }

  void SetUp() override {
    ASSERT_NE(worker_, nullptr);
    std::lock_guard<std::mutex> lock(gate.mutex);
    gate.open = false;
  }
  void TearDown() override { OpenGate(); }

  // The pending activity of `id` as the server sees it.
  std::optional<::temporal::api::workflow::v1::PendingActivityInfo> Pending(const std::string& id) {
    auto described = client_->Describe({.workflow_id = id});
    if (!described.ok() || described->pending_activities_size() == 0) return std::nullopt;
    return described->pending_activities(0);
  }

  static inline std::unique_ptr<temporal::EmbeddedTemporal> server_;
  static inline std::shared_ptr<temporal::Client> client_;
  static inline std::unique_ptr<temporal::Worker> worker_;
};

TEST_F(ActivityKeepAliveTest, ABlockedActivityOutlivesItsHeartbeatTimeoutOnItsFirstAttempt) {
  ASSERT_OK(client_->StartWorkflow({.id = "alive", .type = "HoldOnce", .task_queue = "keep-alive"},
                                   true));
  // Started, heartbeating, and still on its first attempt three heartbeat
  // timeouts after it started.
  std::optional<::temporal::api::workflow::v1::PendingActivityInfo> pending;
  ASSERT_TRUE(flightdeck::testing::WaitFor(
      [&] {
        pending = Pending("alive");
        if (!pending || pending->state() != enums::PENDING_ACTIVITY_STATE_STARTED ||
            !pending->has_last_heartbeat_time()) {
          return false;
        }
        const auto started = std::chrono::system_clock::time_point(
            std::chrono::seconds(pending->last_started_time().seconds()));
        return std::chrono::system_clock::now() - started > 3 * kHeartbeatTimeout + 1s;
      },
      60s));
  EXPECT_EQ(pending->attempt(), 1);
  OpenGate();
  ASSERT_OK_AND_ASSIGN(int attempt, client_->GetResult<int>({.workflow_id = "alive"}));
  EXPECT_EQ(attempt, 1);
}

TEST_F(ActivityKeepAliveTest, WithoutItTheSameActivityTimesOut) {
  ASSERT_OK(client_->StartWorkflow({.id = "silent", .type = "HoldOnce", .task_queue = "keep-alive"},
                                   false));
  auto result = client_->GetResult<int>({.workflow_id = "silent"});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("eartbeat"), std::string::npos)
      << result.status().ToString();
}

}  // namespace
}  // namespace flightdeck::pipeline
