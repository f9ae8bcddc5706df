#include "flightdeck/common/subprocess.h"

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "flightdeck/common/testing/gtest_util.h"

namespace flightdeck {
namespace {

using std::chrono::seconds;

TEST(SubprocessTest, ReportsExitCode) {
  ASSERT_OK_AND_ASSIGN(auto child, Subprocess::Start({.argv = {"sh", "-c", "exit 3"}}));
  ASSERT_OK_AND_ASSIGN(int status, child->Wait(seconds(30)));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(DescribeWaitStatus(status), "exit code 3");
  EXPECT_FALSE(child->Running());
}

TEST(SubprocessTest, MissingProgramIsAnError) {
  auto child = Subprocess::Start({.argv = {"flightdeck-no-such-program"}});
  ASSERT_RAISES(IOError, child.status());
  EXPECT_NE(child.status().message().find("flightdeck-no-such-program"), std::string::npos);
  ASSERT_RAISES(Invalid, Subprocess::Start({}).status());
}

TEST(SubprocessTest, WritesOutputAndEnvironmentToLog) {
  auto dir = std::filesystem::temp_directory_path() / ("fd-subprocess-" + std::to_string(getpid()));
  auto log = (dir / "child.log").string();
  ASSERT_OK_AND_ASSIGN(auto child,
                       Subprocess::Start({.argv = {"sh", "-c", "echo out:$FD_TEST_VALUE; echo err >&2"},
                                          .log_path = log,
                                          .env = {{"FD_TEST_VALUE", "42"}}}));
  ASSERT_OK_AND_ASSIGN(int status, child->Wait(seconds(30)));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("out:42"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("err"), std::string::npos) << text.str();
  std::filesystem::remove_all(dir);
}

TEST(SubprocessTest, StopTerminatesAndIsIdempotent) {
  ASSERT_OK_AND_ASSIGN(auto child, Subprocess::Start({.argv = {"sleep", "300"}}));
  EXPECT_TRUE(child->Running());
  ASSERT_OK(child->Stop(seconds(10)));
  ASSERT_TRUE(child->wait_status().has_value());
  EXPECT_TRUE(WIFSIGNALED(*child->wait_status()));
  EXPECT_EQ(WTERMSIG(*child->wait_status()), SIGTERM);
  ASSERT_OK(child->Stop(seconds(10)));
}

TEST(SubprocessTest, StopEscalatesToKillAfterGrace) {
  ASSERT_OK_AND_ASSIGN(auto child,
                       Subprocess::Start({.argv = {"sh", "-c", "trap '' TERM; echo ready; sleep 300"}}));
  // Give the shell time to install its trap: wait until it has spawned sleep.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        std::ifstream children("/proc/" + std::to_string(child->pid()) + "/task/" +
                               std::to_string(child->pid()) + "/children");
        std::string pid;
        return static_cast<bool>(children >> pid);
      },
      seconds(10)));
  ASSERT_OK(child->Stop(std::chrono::milliseconds(200)));
  ASSERT_TRUE(WIFSIGNALED(*child->wait_status()));
  EXPECT_EQ(WTERMSIG(*child->wait_status()), SIGKILL);
}

// State letter of a process from /proc ('Z' for a zombie), or 0 once it is gone.
char ProcessState(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  if (!(stat >> pid_field >> comm >> state)) return 0;
  return state[0];
}

TEST(SubprocessTest, ChildDiesWhenItsParentIsKilled) {
  // A parent process starts a child, reports its pid and SIGKILLs itself: the
  // child must not outlive it.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {
    auto child = Subprocess::Start({.argv = {"sleep", "300"}});
    pid_t pid = child.ok() ? (*child)->pid() : -1;
    (void)!::write(fds[1], &pid, sizeof(pid));
    ::kill(::getpid(), SIGKILL);
  }
  ::close(fds[1]);
  pid_t grandchild = -1;
  ASSERT_EQ(::read(fds[0], &grandchild, sizeof(grandchild)), static_cast<ssize_t>(sizeof(grandchild)));
  ::close(fds[0]);
  ASSERT_GT(grandchild, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(parent, &status, 0), parent);
  ASSERT_TRUE(WIFSIGNALED(status));
  // Dead means gone, or a zombie waiting for whoever adopted it to reap it.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        char state = ProcessState(grandchild);
        return state == 0 || state == 'Z';
      },
      seconds(10)))
      << "process " << grandchild << " is still in state " << ProcessState(grandchild);
}

TEST(SubprocessTest, WaitTimesOutWhileRunning) {
  ASSERT_OK_AND_ASSIGN(auto child, Subprocess::Start({.argv = {"sleep", "300"}}));
  ASSERT_RAISES(IOError, child->Wait(std::chrono::milliseconds(50)).status());
  EXPECT_TRUE(child->Running());
}

}  // namespace
}  // namespace flightdeck
