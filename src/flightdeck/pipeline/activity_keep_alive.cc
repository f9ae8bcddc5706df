#include "flightdeck/pipeline/activity_keep_alive.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "flightdeck/temporal/worker/activity_context.h"

namespace flightdeck::pipeline {

struct ActivityKeepAlive::Impl {
  std::mutex mutex;
  std::condition_variable stop_changed;
  bool stop = false;  // guarded by mutex
  std::function<nlohmann::json()> details;  // guarded by mutex
  std::thread thread;
};

ActivityKeepAlive::ActivityKeepAlive(temporal::ActivityContext& ctx)
    : impl_(std::make_unique<Impl>()) {
  const auto timeout = ctx.info().heartbeat_timeout;
  if (timeout.count() <= 0) return;
  const auto period = std::max(timeout / 4, std::chrono::milliseconds(10));
  impl_->thread = std::thread([impl = impl_.get(), &ctx, period] {
    // The first heartbeat after one period: short activities send none.
    std::unique_lock<std::mutex> lock(impl->mutex);
    while (!impl->stop_changed.wait_for(lock, period, [impl] { return impl->stop; })) {
      const auto details = impl->details;
      lock.unlock();
      if (details) {
        ctx.Heartbeat(details());
      } else {
        ctx.HeartbeatRaw(temporal::Payloads());
      }
      lock.lock();
    }
  });
}

void ActivityKeepAlive::SetDetails(std::function<nlohmann::json()> details) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->details = std::move(details);
}

ActivityKeepAlive::~ActivityKeepAlive() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->stop_changed.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace flightdeck::pipeline
