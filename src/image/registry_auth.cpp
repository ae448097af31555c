#include "image/registry_auth.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/paths.h"
#include "common/text.h"
#include "image/registry_http.h"

namespace sbx::image {

namespace {
constexpr std::size_t kMaxAuthFileBytes = 1 << 20;
constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// host without a port, brackets removed: "[::1]:5000" -> "::1", "127.0.0.1:5000" -> "127.0.0.1".
std::string bare_host(std::string_view host) {
  if (host.starts_with("[")) {
    const auto close = host.find(']');
    return std::string(host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  }
  if (std::count(host.begin(), host.end(), ':') == 1) return std::string(host.substr(0, host.find(':')));
  return std::string(host);
}

Result<std::optional<RegistryCredentials>> from_auth_file(const std::filesystem::path& file, std::string_view host) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::optional<RegistryCredentials>{};
  const auto size = std::filesystem::file_size(file, ec);
  if (ec || size > kMaxAuthFileBytes)
    return fail(ErrorCode::invalid, "registry auth file " + file.string() + " is unreadable or larger than 1 MiB");
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto doc = nlohmann::json::parse(ss.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return fail(ErrorCode::invalid, "registry auth file " + file.string() + " is not a JSON object",
                "it uses Docker's format: {\"auths\": {\"host:port\": {\"auth\": \"<base64 of user:password>\"}}}");
  const auto auths = doc.find("auths");
  if (auths == doc.end() || !auths->is_object()) return std::optional<RegistryCredentials>{};
  // Docker Hub credentials are stored under its legacy index URL.
  std::vector<std::string> keys{std::string(host), "https://" + std::string(host), "http://" + std::string(host)};
  if (host == "registry-1.docker.io") keys.insert(keys.end(), {"https://index.docker.io/v1/", "docker.io", "index.docker.io"});
  for (const auto& key : keys) {
    const auto entry = auths->find(key);
    if (entry == auths->end() || !entry->is_object()) continue;
    RegistryCredentials c;
    if (auto a = entry->find("auth"); a != entry->end() && a->is_string()) {
      const auto decoded = base64_decode(a->get<std::string>());
      const auto colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon == std::string::npos)
        return fail(ErrorCode::invalid, "registry auth file " + file.string() + ": the \"auth\" of " + key + " is not base64 of user:password");
      c.username = decoded->substr(0, colon);
      c.password = decoded->substr(colon + 1);
    } else {
      auto u = entry->find("username");
      auto p = entry->find("password");
      if (u == entry->end() || p == entry->end() || !u->is_string() || !p->is_string()) continue;
      c.username = u->get<std::string>();
      c.password = p->get<std::string>();
    }
    return std::optional<RegistryCredentials>(std::move(c));
  }
  return std::optional<RegistryCredentials>{};
}
}  // namespace

bool registry_allows_http(std::string_view host) {
  const std::string h = lower(bare_host(host));
  if (http::is_loopback(h)) return true;
  for (const auto& item : text::split(env("SBX_INSECURE_REGISTRIES"), ',')) {
    std::string entry = item;
    entry.erase(std::remove_if(entry.begin(), entry.end(), [](unsigned char c) { return std::isspace(c); }), entry.end());
    if (entry.empty()) continue;
    if (lower(entry) == lower(host) || lower(entry) == h) return true;
  }
  return false;
}

Result<std::optional<RegistryCredentials>> lookup_registry_credentials(std::string_view host) {
  if (!env("SBX_REGISTRY_USERNAME").empty() || !env("SBX_REGISTRY_PASSWORD").empty()) {
    // Bound to one host, so a Sandboxfile naming another registry never receives them.
    if (env("SBX_REGISTRY_HOST").empty())
      return fail(ErrorCode::invalid, "SBX_REGISTRY_USERNAME/SBX_REGISTRY_PASSWORD are set without SBX_REGISTRY_HOST",
                  "set SBX_REGISTRY_HOST to the registry (host[:port]) these credentials belong to");
    if (lower(env("SBX_REGISTRY_HOST")) == lower(host))
      return std::optional<RegistryCredentials>(RegistryCredentials{env("SBX_REGISTRY_USERNAME"), env("SBX_REGISTRY_PASSWORD")});
  }
  std::filesystem::path file;
  if (auto f = env("SBX_REGISTRY_AUTH_FILE"); !f.empty()) file = f;
  else if (auto d = env("DOCKER_CONFIG"); !d.empty()) file = std::filesystem::path(d) / "config.json";
  else file = paths::home_dir() / ".docker" / "config.json";
  return from_auth_file(file, host);
}

std::optional<AuthChallenge> parse_auth_challenge(std::string_view h) {
  AuthChallenge out;
  std::size_t i = 0;
  auto skip_ws = [&] { while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i; };
  skip_ws();
  const std::size_t start = i;
  while (i < h.size() && std::isalpha(static_cast<unsigned char>(h[i]))) ++i;
  if (i == start) return std::nullopt;
  out.scheme = lower(h.substr(start, i - start));
  while (i < h.size()) {
    skip_ws();
    if (i < h.size() && h[i] == ',') { ++i; continue; }
    const std::size_t ks = i;
    while (i < h.size() && (std::isalnum(static_cast<unsigned char>(h[i])) || h[i] == '_' || h[i] == '-')) ++i;
    if (i == ks) return std::nullopt;
    const std::string key = lower(h.substr(ks, i - ks));
    skip_ws();
    if (i >= h.size() || h[i] != '=') return std::nullopt;
    ++i;
    skip_ws();
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      bool closed = false;
      while (i < h.size()) {
        char c = h[i++];
        if (c == '\\' && i < h.size()) { value += h[i++]; continue; }
        if (c == '"') { closed = true; break; }
        value += c;
      }
      if (!closed) return std::nullopt;
    } else {
      while (i < h.size() && h[i] != ',' && h[i] != ' ') value += h[i++];
    }
    if (value.size() > 4096 || out.params.size() > 16) return std::nullopt;
    out.params[key] = value;
  }
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += kB64[v >> 18]; out += kB64[(v >> 12) & 63]; out += kB64[(v >> 6) & 63]; out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kB64[v >> 18]; out += kB64[(v >> 12) & 63]; out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kB64[v >> 18]; out += kB64[(v >> 12) & 63]; out += kB64[(v >> 6) & 63]; out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const auto pos = kB64.find(c);
    if (pos == std::string_view::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(pos);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return std::nullopt;  // a dangling single character
  return out;
}

std::string basic_authorization(const RegistryCredentials& c) { return "Basic " + base64_encode(c.username + ":" + c.password); }

}  // namespace sbx::image
