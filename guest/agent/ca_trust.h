#pragma once
// Trusting the egress proxy's per-sandbox CA inside the guest: the PEM from CONFIG is written to
// tmpfs with a bundle (the image's system bundle + the CA), and every exec gets the variables that
// point OpenSSL, curl, Python requests, git and Node at them.
#include <map>
#include <string>

namespace sbx::guest::agent {

/// Where the files go (a tmpfs in the guest).
inline constexpr const char* kCaDir = "/run/sbx";
inline constexpr const char* kCaFile = "/run/sbx/egress-ca.crt";
inline constexpr const char* kCaBundle = "/run/sbx/ca-bundle.crt";
/// The image's bundle, when it has one (Debian/Ubuntu/Alpine layout).
inline constexpr const char* kSystemBundle = "/etc/ssl/certs/ca-certificates.crt";

/// Write `pem` and the combined bundle under `dir`, reading the system bundle from
/// `system_bundle`; "" on success, else why not. The PEM must hold certificates only.
std::string install_ca(const std::string& pem, const std::string& dir = kCaDir,
                       const std::string& system_bundle = kSystemBundle);

/// Add SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, GIT_SSL_CAINFO (the bundle) and
/// NODE_EXTRA_CA_CERTS (the CA alone) for the files install_ca() wrote under `dir`.
void add_ca_env(std::map<std::string, std::string>& env, const std::string& dir = kCaDir);

}  // namespace sbx::guest::agent
