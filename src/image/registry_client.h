#pragma once
// One registry session: base URL (https, or http where allowed), the auth handshake (anonymous,
// Bearer token, Basic) and bounded redirects that never carry credentials to another host.
#include <optional>
#include <string>
#include <vector>

#include "image/registry.h"
#include "image/registry_http.h"

namespace sbx::image {

/// A session with one registry for one repository.
class RegistryClient {
 public:
  RegistryClient(RegistryRef ref, std::optional<RegistryCredentials> credentials);
  /// GET /v2/<repository>/<what> (e.g. "manifests/<tag>"): authenticates when challenged,
  /// follows at most 5 http(s) redirects; a 2xx body goes to `request.sink` when set.
  Result<http::Response> get(const std::string& what, http::Request request);
  /// "https://host" or "http://host".
  const std::string& base() const { return base_; }

 private:
  Result<void> authenticate(const http::Response& challenge_response);
  Result<http::Response> follow(http::Request request);

  RegistryRef ref_;
  std::optional<RegistryCredentials> credentials_;
  std::string base_;
  std::optional<std::string> authorization_;  // never logged
};

}  // namespace sbx::image
