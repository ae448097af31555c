#include "guest/agent/etc_hosts.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

namespace sbx::guest::agent {

namespace {

// Whether a hosts line (comments stripped) lists `name` among its names.
bool names(const std::string& line, const std::string& name) {
  std::istringstream words(line.substr(0, line.find('#')));
  std::string address, word;
  if (!(words >> address)) return false;
  while (words >> word)
    if (word == name) return true;
  return false;
}

}  // namespace

std::string name_host_in_hosts(const std::string& name, const std::string& hosts) {
  if (name.empty()) return {};
  // Read what is there (a missing file is an empty one); the image's root is the overlay's.
  std::string text;
  const int in = ::open(hosts.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(in, buf, sizeof buf)) > 0 && text.size() < (1u << 20)) text.append(buf, static_cast<size_t>(n));
    ::close(in);
  } else if (errno != ENOENT) {
    return "cannot read " + hosts + ": " + std::strerror(errno);
  }
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (names(line, name)) return {};
  std::string add = (text.empty() || text.back() == '\n' ? "" : "\n") + std::string("127.0.1.1\t") + name + "\n";
  const int out = ::open(hosts.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (out < 0) return "cannot add the hostname to " + hosts + ": " + std::strerror(errno);
  const ssize_t w = ::write(out, add.data(), add.size());
  const int err = errno;
  ::close(out);
  if (w != static_cast<ssize_t>(add.size())) return "cannot add the hostname to " + hosts + ": " + std::strerror(err);
  return {};
}

}  // namespace sbx::guest::agent
