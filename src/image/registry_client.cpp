#include "image/registry_client.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "image/registry_auth.h"

namespace sbx::image {

namespace {
constexpr int kMaxRedirects = 5;
constexpr std::size_t kMaxTokenBytes = 16 << 10;

bool is_redirect(long status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }

bool token_chars_ok(const std::string& t) {
  return !t.empty() && t.size() <= kMaxTokenBytes && std::all_of(t.begin(), t.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '~' || c == '+' || c == '/' || c == '=';
  });
}

std::string credentials_hint(const std::string& host) {
  return "give credentials for " + host +
         ": SBX_REGISTRY_HOST=" + host + " with SBX_REGISTRY_USERNAME and SBX_REGISTRY_PASSWORD, or an \"auths\" entry for it in "
         "$SBX_REGISTRY_AUTH_FILE (default ~/.docker/config.json)";
}
}  // namespace

RegistryClient::RegistryClient(RegistryRef ref, std::optional<RegistryCredentials> credentials)
    : ref_(std::move(ref)), credentials_(std::move(credentials)) {
  base_ = (registry_allows_http(ref_.host) ? "http://" : "https://") + ref_.host;
}

Result<http::Response> RegistryClient::follow(http::Request request) {
  // The Authorization header goes only to the registry itself, never to a redirect target
  // elsewhere (blob storage, CDNs): those URLs carry their own signatures.
  const std::string origin = SBX_TRY(http::parse_url(request.url)).authority();
  const std::vector<std::string> base_headers = request.headers;
  for (int hop = 0;; ++hop) {
    const http::Url url = SBX_TRY(http::parse_url(request.url));
    request.headers = base_headers;
    if (authorization_ && url.authority() == origin && origin == SBX_TRY(http::parse_url(base_)).authority())
      request.headers.push_back("Authorization: " + *authorization_);
    http::Response response = SBX_TRY(http::perform(request));
    if (!is_redirect(response.status)) return response;
    if (hop >= kMaxRedirects)
      return fail(ErrorCode::runtime, "registry " + ref_.host + " redirected more than " + std::to_string(kMaxRedirects) + " times");
    const auto location = response.header("location");
    if (!location) return fail(ErrorCode::runtime, "registry " + ref_.host + " sent a redirect without a Location");
    auto next = http::resolve_url(request.url, *location);
    if (!next)
      return fail(ErrorCode::runtime, "registry " + ref_.host + " redirected to a refused target: " + next.error().message,
                  "only http and https redirects are followed");
    const http::Url target = SBX_TRY(http::parse_url(*next));
    if (target.scheme == "http" && url.scheme == "https" && !registry_allows_http(target.authority()))
      return fail(ErrorCode::runtime, "registry " + ref_.host + " redirected from https to plain http at " + target.authority(),
                  "refusing the downgrade; list the host in SBX_INSECURE_REGISTRIES only if you trust the network path");
    log::get("registry")->debug("redirect to {}://{}", target.scheme, target.authority());
    request.url = *next;
  }
}

Result<void> RegistryClient::authenticate(const http::Response& challenged) {
  std::optional<AuthChallenge> bearer, basic;
  for (const auto& h : challenged.headers_named("www-authenticate")) {
    auto c = parse_auth_challenge(h);
    if (!c) continue;
    if (c->scheme == "bearer" && !bearer) bearer = c;
    if (c->scheme == "basic" && !basic) basic = c;
  }
  if (bearer) {
    const auto realm_it = bearer->params.find("realm");
    if (realm_it == bearer->params.end())
      return fail(ErrorCode::runtime, "registry " + ref_.host + " asked for a Bearer token without naming a realm");
    auto realm = http::parse_url(realm_it->second);
    if (!realm)
      return fail(ErrorCode::runtime, "registry " + ref_.host + " named an unusable token realm: " + realm.error().message);
    if (realm->scheme == "http" && !registry_allows_http(realm->authority()))
      return fail(ErrorCode::runtime, "registry " + ref_.host + " named a plain-http token service at " + realm->authority(),
                  "tokens are only fetched over https, or plain http on loopback or hosts in SBX_INSECURE_REGISTRIES");
    std::string url = realm_it->second;
    url += url.find('?') == std::string::npos ? '?' : '&';
    bool first = true;
    auto add = [&](const std::string& k, const std::string& v) {
      if (!first) url += '&';
      url += k + "=" + http::url_encode(v);
      first = false;
    };
    if (auto s = bearer->params.find("service"); s != bearer->params.end()) add("service", s->second);
    const auto scope = bearer->params.find("scope");
    add("scope", scope != bearer->params.end() ? scope->second : "repository:" + ref_.repository + ":pull");
    http::Request req;
    req.url = url;
    req.max_body = 1 << 20;
    req.total_timeout_s = 30;
    // Credentials go to the realm the registry names, as Docker does, but never in clear text
    // to a host that is not loopback or explicitly trusted (checked above).
    if (credentials_) req.headers.push_back("Authorization: " + basic_authorization(*credentials_));
    http::Response r = SBX_TRY(http::perform(req));
    if (r.status == 401 || r.status == 403)
      return fail(ErrorCode::permission,
                  "the token service at " + realm->authority() + " refused " +
                      (credentials_ ? "the credentials for " + ref_.host : std::string("anonymous access")) + " to " +
                      ref_.repository + " (HTTP " + std::to_string(r.status) + ")",
                  credentials_ ? "check the user name and password configured for " + ref_.host : credentials_hint(ref_.host));
    if (r.status != 200)
      return fail(ErrorCode::runtime, "the token service at " + realm->authority() + " answered HTTP " + std::to_string(r.status));
    const auto doc = nlohmann::json::parse(r.body, nullptr, false);
    std::string token;
    if (doc.is_object()) {
      for (const char* key : {"token", "access_token"})
        if (auto t = doc.find(key); t != doc.end() && t->is_string() && !t->get<std::string>().empty()) {
          token = t->get<std::string>();
          break;
        }
    }
    if (!token_chars_ok(token))
      return fail(ErrorCode::runtime, "the token service at " + realm->authority() + " sent no usable token",
                  "expected a JSON object with a \"token\" or \"access_token\" string");
    authorization_ = "Bearer " + token;
    log::get("registry")->debug("got a bearer token for {} from {}", ref_.repository, realm->authority());
    return {};
  }
  if (basic) {
    if (!credentials_)
      return fail(ErrorCode::permission, "registry " + ref_.host + " requires a user name and password", credentials_hint(ref_.host));
    authorization_ = basic_authorization(*credentials_);
    return {};
  }
  return fail(ErrorCode::runtime, "registry " + ref_.host + " answered 401 without a usable WWW-Authenticate challenge");
}

Result<http::Response> RegistryClient::get(const std::string& what, http::Request request) {
  request.method = "GET";
  request.url = base_ + "/v2/" + ref_.repository + "/" + what;
  for (int attempt = 0;; ++attempt) {
    http::Response r = SBX_TRY(follow(request));
    if (r.status != 401) {
      if (r.status == 403)
        return fail(ErrorCode::permission, "registry " + ref_.host + " denied access to " + ref_.repository + " (HTTP 403)",
                    credentials_ ? "the configured account may not pull this repository" : credentials_hint(ref_.host));
      return r;
    }
    if (attempt > 0)
      return fail(ErrorCode::permission,
                  "registry " + ref_.host + " refused access to " + ref_.repository + " (HTTP 401) after authenticating",
                  credentials_ ? "check that the account configured for " + ref_.host + " may pull " + ref_.repository
                               : credentials_hint(ref_.host));
    SBX_TRY_VOID(authenticate(r));
  }
}

}  // namespace sbx::image
