#pragma once
// The per-sandbox certificate authority used to terminate TLS for hosts that get a secret
// header. Its key is generated on first use (EC P-256), stored 0600 in the sandbox's state
// directory, and never leaves the host; only its certificate is given to the guest.
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/error.h"

namespace sbx::proxy {

class CertAuthority {
 public:
  /// Load the CA from `dir` (ca.key, ca.crt), creating both on first use.
  static Result<std::unique_ptr<CertAuthority>> open(const std::filesystem::path& dir);
  ~CertAuthority();

  /// The CA certificate (PEM) for the guest's trust store.
  std::string certificate_pem() const;
  /// A server SSL_CTX* presenting a leaf certificate for `host` (minted once, then cached),
  /// offering only http/1.1 in ALPN. Owned by the CA. Thread-safe.
  Result<void*> server_context(const std::string& host);

  struct Keys;

 private:
  CertAuthority() = default;
  std::unique_ptr<Keys> keys_;
  std::mutex mu_;
  std::map<std::string, void*> contexts_;
};

}  // namespace sbx::proxy
