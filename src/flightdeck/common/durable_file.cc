#include "flightdeck/common/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "flightdeck/common/random.h"

namespace flightdeck {
namespace {

namespace fs = std::filesystem;

arrow::Status ErrnoError(const char* what, const std::string& path, int error) {
  return arrow::Status::IOError(what, " ", path, ": ", std::strerror(error));
}

}  // namespace

arrow::Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open to fsync", path, errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync failed for", path, error);
  return arrow::Status::OK();
}

arrow::Status SyncTree(const std::string& dir) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) return arrow::Status::IOError("cannot list ", dir, ": ", ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return arrow::Status::IOError("cannot list ", dir, ": ", ec.message());
    const auto type = it->symlink_status(ec).type();
    if (type == fs::file_type::regular || type == fs::file_type::directory) {
      ARROW_RETURN_NOT_OK(SyncPath(it->path().string()));
    }
  }
  return SyncPath(dir);
}

arrow::Status RenameDurably(const std::string& from, const std::string& to) {
  ARROW_RETURN_NOT_OK(SyncPath(from));
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) return arrow::Status::IOError("cannot rename ", from, " to ", to, ": ", ec.message());
  const fs::path to_dir = fs::absolute(to, ec).parent_path();
  const fs::path from_dir = fs::absolute(from, ec).parent_path();
  ARROW_RETURN_NOT_OK(SyncPath(to_dir.string()));
  if (from_dir != to_dir) ARROW_RETURN_NOT_OK(SyncPath(from_dir.string()));
  return arrow::Status::OK();
}

std::string TemporarySibling(const std::string& path) {
  const fs::path p(path);
  return (p.parent_path() / ("." + p.filename().string() + ".tmp-" + RandomHex(6))).string();
}

arrow::Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string temp = TemporarySibling(path);
  auto written = [&]() -> arrow::Status {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("cannot create", temp, errno);
    const char* data = contents.data();
    size_t left = contents.size();
    int error = 0;
    while (left > 0) {
      const ssize_t n = ::write(fd, data, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        error = errno;
        break;
      }
      data += n;
      left -= static_cast<size_t>(n);
    }
    if (error == 0 && ::fsync(fd) != 0) error = errno;
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error != 0) return ErrnoError("cannot write", temp, error);
    std::error_code ec;
    fs::rename(temp, path, ec);
    if (ec) return arrow::Status::IOError("cannot rename ", temp, " to ", path, ": ", ec.message());
    return SyncPath(fs::absolute(path, ec).parent_path().string());
  }();
  if (!written.ok()) {
    std::error_code ec;
    fs::remove(temp, ec);
  }
  return written;
}

}  // namespace flightdeck
