#include "proxy/dir_secret_source.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fd.h"

namespace sbx::proxy {

namespace {
constexpr size_t kMaxValue = 16 * 1024;
}

SecretSource dir_secret_source(const std::filesystem::path& dir) {
  return [dir](const std::string& name) -> Result<LockedBuffer> {
    if (name.empty() || name.front() == '.' || name.find('/') != std::string::npos || name.find('\0') != std::string::npos)
      return fail(ErrorCode::invalid, "secret name '" + name + "' is not a file name");
    const auto file = dir / name;
    const int raw = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (raw < 0)
      return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                  "cannot read secret " + name + " from " + file.string() + ": " + std::strerror(errno),
                  "add the key '" + name + "' to the Secret mounted at " + dir.string());
    Fd fd(raw);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      return fail(ErrorCode::invalid, "secret " + name + " at " + file.string() + " is not a regular file");
    if (static_cast<size_t>(st.st_size) > kMaxValue)
      return fail(ErrorCode::invalid, "secret " + name + " is larger than 16 KiB");
    LockedBuffer buf(kMaxValue + 1);
    if (!buf.valid()) return fail(ErrorCode::runtime, "cannot allocate locked memory");
    char chunk[4096];
    while (true) {
      const ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(ErrorCode::io, "cannot read secret " + name + ": " + std::strerror(errno));
      if (n == 0) break;
      const bool fits = buf.append({chunk, static_cast<size_t>(n)});
      explicit_bzero(chunk, sizeof chunk);
      if (!fits || buf.size() > kMaxValue) return fail(ErrorCode::invalid, "secret " + name + " is larger than 16 KiB");
    }
    auto v = buf.view();
    size_t keep = v.size();
    if (keep > 0 && v[keep - 1] == '\n') {
      --keep;
      if (keep > 0 && v[keep - 1] == '\r') --keep;
    }
    if (keep == v.size()) return buf;
    LockedBuffer trimmed(keep);
    if (!trimmed.valid() || !trimmed.append(v.substr(0, keep))) return fail(ErrorCode::runtime, "cannot allocate locked memory");
    return trimmed;
  };
}

}  // namespace sbx::proxy
