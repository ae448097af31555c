#include "image/build_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <thread>

#include "common/errno_text.h"

namespace sbx::image {
namespace fs = std::filesystem;

std::string build_lock_name(std::string_view key) {
  std::string out = ".";
  for (const char c : key.substr(0, 96)) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
    out += plain && !(out.size() == 1 && c == '.') ? c : '_';
  }
  return out + ".lock";
}

Result<BuildLock> BuildLock::acquire(const fs::path& dir, const std::string& key, std::string_view what,
                                     std::chrono::seconds timeout, const std::function<void(std::string_view)>& say) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::io, "cannot create " + dir.string() + ": " + ec.message());
  const fs::path file = dir / build_lock_name(key);
  Fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return fail(ErrorCode::io, "cannot open " + file.string() + ": " + errno_text(), "check the permissions of " + dir.string());
  const auto start = std::chrono::steady_clock::now();
  bool waited = false;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return fail(ErrorCode::io, "cannot lock " + file.string() + ": " + errno_text());
    if (std::chrono::steady_clock::now() - start > timeout)
      return fail(ErrorCode::conflict,
                  "another sbx process has been building " + std::string(what) + " for " + std::to_string(timeout.count()) +
                      " s (" + file.string() + ")",
                  "wait for it to finish, or find it with: fuser " + file.string());
    if (!waited && say) say("waiting for another sbx process to finish building " + std::string(what) + "...");
    waited = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return BuildLock(std::move(fd), waited);
}

}  // namespace sbx::image
