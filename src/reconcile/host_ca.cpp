#include "reconcile/host_ca.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/text.h"
#include "supervisor/launch.h"

namespace sbx::reconcile {
namespace fs = std::filesystem;

namespace {

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;

// Every certificate in `text`, each written back as PEM; 0 when there is none.
std::size_t reencode(const std::string& text, std::string& out) {
  Bio in(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  Bio pem(BIO_new(BIO_s_mem()), BIO_free);
  if (!in || !pem) return 0;
  std::size_t n = 0;
  while (X509* cert = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)) {
    PEM_write_bio_X509(pem.get(), cert);
    X509_free(cert);
    ++n;
  }
  ERR_clear_error();  // the read that ended the loop
  char* data = nullptr;
  const long len = BIO_get_mem_data(pem.get(), &data);
  if (len > 0) out.append(data, static_cast<size_t>(len));
  return n;
}

bool is_ca_file(const fs::path& p) {
  const auto ext = p.extension();
  return ext == ".crt" || ext == ".pem";
}

}  // namespace

std::vector<fs::path> host_ca_dirs() {
  if (const char* env = std::getenv("SBX_HOST_CA_DIR"); env && *env) {
    std::vector<fs::path> dirs;
    for (const auto& d : text::split(env, ':'))
      if (!d.empty()) dirs.emplace_back(d);
    return dirs;
  }
  return {"/usr/local/share/ca-certificates", "/etc/pki/ca-trust/source/anchors",
          "/etc/ca-certificates/trust-source/anchors"};
}

Result<HostCas> collect_host_cas(const std::vector<fs::path>& dirs) {
  HostCas out;
  std::vector<fs::path> files;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (it.depth() >= 2) it.disable_recursion_pending();
      std::error_code fec;
      if (is_ca_file(it->path()) && it->is_regular_file(fec)) files.push_back(it->path());
      if (files.size() > kMaxHostCaFiles)
        return fail(ErrorCode::invalid,
                    "more than " + std::to_string(kMaxHostCaFiles) + " CA files under " + dir.string(),
                    "trust_host_ca carries the CAs an administrator added; leave the rest to the image's bundle");
    }
  }
  std::sort(files.begin(), files.end());  // the same set gives the same bundle (and digest)
  for (const auto& f : files) {
    auto text = supervisor::read_small_file(f);
    if (!text) return std::unexpected(text.error());
    const std::size_t n = reencode(*text, out.pem);
    if (n == 0)
      return fail(ErrorCode::invalid, f.string() + " holds no PEM certificate",
                  "[egress] trust_host_ca = true gives the guest every CA file there: fix or remove that one, "
                  "or set trust_host_ca = false");
    out.certificates += n;
    out.files.push_back(f);
    if (out.pem.size() > kMaxHostCaBytes)
      return fail(ErrorCode::invalid,
                  "the host's added CAs are more than " + std::to_string(kMaxHostCaBytes / 1024) + " KiB (at " + f.string() + ")",
                  "trust_host_ca carries only the CAs an administrator added; set SBX_HOST_CA_DIR to a directory "
                  "with the ones the sandbox needs");
  }
  return out;
}

}  // namespace sbx::reconcile
