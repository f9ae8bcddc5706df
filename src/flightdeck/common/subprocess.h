// flightdeck/common/subprocess.h: child processes that never outlive us.
//
// Used to run the Temporal dev server, data nodes and workers as real
// processes (in the CLI and in tests). A child started with
// `kill_with_parent` receives SIGKILL when its parent dies (Linux
// PR_SET_PDEATHSIG; the man page ties it to the starting thread, so start
// children from a thread that lives as long as they should), so a crashed
// parent leaves no orphan servers behind. Each child leads its own process
// group, and signals go to the whole group: grandchildren go too.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <arrow/result.h>
#include <arrow/status.h>

namespace flightdeck {

struct SubprocessOptions {
  /// argv[0] is the program: a path, or a name looked up on PATH.
  std::vector<std::string> argv;
  /// stdout and stderr are appended to this file; empty inherits ours.
  std::string log_path;
  /// Variables added to (or replacing in) our environment.
  std::vector<std::pair<std::string, std::string>> env;
  /// SIGKILL the child when its parent dies (see the file comment).
  bool kill_with_parent = true;
};

/// A running (or finished) child process. Not thread-safe: one owner calls it.
class Subprocess {
 public:
  /// Starts the child. Fails with IOError when the program cannot be found or
  /// the fork fails; a program that starts and then exits is not an error
  /// here (see Running()).
  static arrow::Result<std::unique_ptr<Subprocess>> Start(SubprocessOptions options);

  /// Kills (SIGKILL, whole group) and reaps the child if it still runs.
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  /// True while the child has not exited. Reaps it once it has.
  bool Running();

  /// The raw wait status once the child was reaped, nullopt before.
  std::optional<int> wait_status() const { return wait_status_; }

  /// Sends `signal` to the child's process group. No-op once it was reaped.
  arrow::Status Signal(int signal);

  /// Waits up to `timeout` for the child to exit. Returns its wait status, or
  /// TimedOut-flavoured IOError when it still runs at the deadline.
  arrow::Result<int> Wait(std::chrono::milliseconds timeout);

  /// SIGTERM, then SIGKILL after `grace`; always reaps. Idempotent.
  arrow::Status Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  std::optional<int> wait_status_;
};

/// Describes a wait status in words: "exit code 3", "killed by signal 9".
std::string DescribeWaitStatus(int wait_status);

}  // namespace flightdeck
