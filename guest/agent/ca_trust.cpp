#include "guest/agent/ca_trust.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sbx::guest::agent {
namespace {

constexpr std::size_t kMaxBundle = 16u << 20;

std::string read_file(const std::string& path, bool& ok) {
  ok = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && out.size() < kMaxBundle) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  ok = n == 0;
  return out;
}

// Write via a temporary name and rename, so a reader never sees half a bundle.
std::string write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write " + tmp + ": " + std::strerror(errno);
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string err = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0644);  // every user's programs must read it, whatever the umask
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return "cannot rename " + tmp + ": " + std::strerror(errno);
  return {};
}

// Certificates only: BEGIN/END CERTIFICATE blocks of base64 (the host is trusted, but a key or
// garbage here would be a bug worth refusing rather than installing).
bool looks_like_certificates(const std::string& pem) {
  static const std::string begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----";
  if (pem.find(begin) == std::string::npos) return false;
  std::size_t at = 0;
  while ((at = pem.find("-----", at)) != std::string::npos) {
    if (pem.compare(at, begin.size(), begin) == 0) at += begin.size();
    else if (pem.compare(at, end.size(), end) == 0) at += end.size();
    else return false;
  }
  for (unsigned char c : pem)
    if (c != '\n' && c != '\r' && (c < 0x20 || c > 0x7e)) return false;
  return true;
}

}  // namespace

std::string install_ca(const std::string& pem, const std::string& dir, const std::string& system_bundle) {
  if (!looks_like_certificates(pem)) return "CONFIG ca_certificate is not a PEM certificate; the egress CA is not trusted";
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return "cannot create " + dir + ": " + std::strerror(errno);
  std::string ca = pem;
  if (ca.back() != '\n') ca += '\n';
  if (auto err = write_file(dir + "/egress-ca.crt", ca); !err.empty()) return err;
  bool ok = false;
  std::string bundle = read_file(system_bundle, ok);
  if (!ok) bundle.clear();  // an image without a bundle trusts the sandbox CA alone
  if (!bundle.empty() && bundle.back() != '\n') bundle += '\n';
  bundle += ca;
  return write_file(dir + "/ca-bundle.crt", bundle);
}

void add_ca_env(std::map<std::string, std::string>& env, const std::string& dir) {
  const std::string bundle = dir + "/ca-bundle.crt";
  for (const char* k : {"SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO"}) env[k] = bundle;
  env["NODE_EXTRA_CA_CERTS"] = dir + "/egress-ca.crt";
}

}  // namespace sbx::guest::agent
