#include "flightdeck/common/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

extern char** environ;

namespace flightdeck {
namespace {

// Resolves a program name on PATH before fork: execv in the child must not
// allocate.
arrow::Result<std::string> ResolveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) {
      return arrow::Status::IOError("program ", name, " is not executable: ",
                                    std::strerror(errno));
    }
    return name;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return arrow::Status::IOError("program ", name, " not found on PATH");
}

}  // namespace

arrow::Result<std::unique_ptr<Subprocess>> Subprocess::Start(SubprocessOptions options) {
  if (options.argv.empty()) return arrow::Status::Invalid("subprocess needs a program");
  ARROW_ASSIGN_OR_RAISE(std::string program, ResolveProgram(options.argv[0]));

  // Everything the child needs is built before fork.
  std::vector<std::string> env_storage;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [k, v] : options.env) replaced |= (k == key);
    if (!replaced) env_storage.push_back(std::move(entry));
  }
  for (const auto& [k, v] : options.env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);

  int log_fd = -1;
  if (!options.log_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(
        std::filesystem::path(options.log_path).parent_path(), ec);
    log_fd = ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      return arrow::Status::IOError("cannot open log ", options.log_path, ": ",
                                    std::strerror(errno));
    }
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    if (log_fd >= 0) ::close(log_fd);
    return arrow::Status::IOError("fork failed: ", std::strerror(err));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    if (options.kill_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    }
    sigset_t all;  // a blocked mask survives exec: undo what the parent blocked
    ::sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::setpgid(0, 0);  // our own group: a terminal's Ctrl-C goes to the parent only
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execve(program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  ::setpgid(pid, pid);  // as the child does: whoever runs first, the group exists
  return std::unique_ptr<Subprocess>(new Subprocess(pid));
}

namespace {

// Signals the child's group, or the child alone before its group exists.
int SignalGroup(pid_t pid, int signal) {
  if (::kill(-pid, signal) == 0) return 0;
  return ::kill(pid, signal);
}

}  // namespace

Subprocess::~Subprocess() {
  if (!wait_status_) {
    SignalGroup(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool Subprocess::Running() {
  if (wait_status_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    wait_status_ = status;
    return false;
  }
  if (r < 0 && errno == ECHILD) {  // reaped elsewhere: gone, status unknown
    wait_status_ = -1;
    return false;
  }
  return true;
}

arrow::Status Subprocess::Signal(int signal) {
  if (!Running()) return arrow::Status::OK();
  if (SignalGroup(pid_, signal) != 0) {
    return arrow::Status::IOError("kill(", pid_, ", ", signal, "): ", std::strerror(errno));
  }
  return arrow::Status::OK();
}

arrow::Result<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return arrow::Status::IOError("process ", pid_, " still running after ",
                                    timeout.count(), " ms");
    }
    // Polling waitpid: a child exit has no portable fd to wait on here.
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return *wait_status_;
}

arrow::Status Subprocess::Stop(std::chrono::milliseconds grace) {
  if (!Running()) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(Signal(SIGTERM));
  if (Wait(grace).ok()) return arrow::Status::OK();
  ARROW_RETURN_NOT_OK(Signal(SIGKILL));
  return Wait(std::chrono::seconds(30)).status();
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit code " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "killed by signal " + std::to_string(WTERMSIG(wait_status));
  return "wait status " + std::to_string(wait_status);
}

}  // namespace flightdeck
