#include "image/registry_http.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

#include <arpa/inet.h>

#include <curl/curl.h>

namespace sbx::image::http {

namespace {
constexpr std::size_t kMaxHeaderBytes = 64 << 10;
constexpr long kConnectTimeoutS = 15;
// A transfer that moves less than 1 byte/s for this long is considered stalled.
constexpr long kStallTimeoutS = 60;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct UrlHandle {
  CURLU* u = curl_url();
  ~UrlHandle() { curl_url_cleanup(u); }
  std::string get(CURLUPart part, unsigned flags = 0) const {
    char* out = nullptr;
    if (curl_url_get(u, part, &out, flags) != CURLUE_OK || !out) return {};
    std::string s(out);
    curl_free(out);
    return s;
  }
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return std::string(s);
}

struct Transfer {
  CURL* curl = nullptr;
  const Request* request = nullptr;
  Response response;
  std::size_t header_bytes = 0;
  std::optional<Error> sink_error;
  bool too_big = false;
};

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t len = size * n;
  t->header_bytes += len;
  if (t->header_bytes > kMaxHeaderBytes) return 0;
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {
    t->response.headers.clear();  // a new response (e.g. after "100 Continue")
    return len;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  t->response.headers.emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  return len;
}

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->request->sink && status >= 200 && status < 300) {
    auto r = t->request->sink(std::string_view(data, len));
    if (!r) {
      t->sink_error = std::move(r.error());
      return 0;
    }
    return len;
  }
  if (t->response.body.size() + len > t->request->max_body) {
    t->too_big = true;
    return 0;
  }
  t->response.body.append(data, len);
  return len;
}
}  // namespace

std::string Url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return port.empty() ? h : h + ":" + port;
}

Result<Url> parse_url(std::string_view url) {
  global_init();
  UrlHandle h;
  const std::string text(url.substr(0, 8192));
  if (!h.u || curl_url_set(h.u, CURLUPART_URL, text.c_str(), 0) != CURLUE_OK)
    return fail(ErrorCode::invalid, "'" + text.substr(0, 120) + "' is not a valid URL");
  Url out;
  out.scheme = lower(h.get(CURLUPART_SCHEME));
  out.host = lower(h.get(CURLUPART_HOST));
  out.port = h.get(CURLUPART_PORT);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  if (out.scheme != "http" && out.scheme != "https")
    return fail(ErrorCode::invalid, "refusing URL scheme '" + out.scheme.substr(0, 20) + "' (only http and https)");
  if (out.host.empty()) return fail(ErrorCode::invalid, "URL '" + text.substr(0, 120) + "' has no host");
  return out;
}

Result<std::string> resolve_url(std::string_view base, std::string_view location) {
  global_init();
  UrlHandle h;
  const std::string b(base), loc(location.substr(0, 8192));
  if (!h.u || curl_url_set(h.u, CURLUPART_URL, b.c_str(), 0) != CURLUE_OK ||
      curl_url_set(h.u, CURLUPART_URL, loc.c_str(), 0) != CURLUE_OK)
    return fail(ErrorCode::invalid, "invalid redirect target '" + loc.substr(0, 120) + "'");
  std::string out = h.get(CURLUPART_URL);
  SBX_TRY(parse_url(out));  // http(s) only
  return out;
}

bool is_loopback(std::string_view host) {
  const std::string h = lower(host);
  if (h == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, h.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::string url_encode(std::string_view value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return std::nullopt;
}

std::vector<std::string> Response::headers_named(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers)
    if (k == name) out.push_back(v);
  return out;
}

Result<Response> perform(const Request& request) {
  global_init();
  const Url url = SBX_TRY(parse_url(request.url));
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return fail(ErrorCode::runtime, "cannot initialise libcurl");
  Transfer t;
  t.curl = curl.get();
  t.request = &request;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutS);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, kStallTimeoutS);
  if (request.total_timeout_s > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT, request.total_timeout_s);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  // Registries compress layers themselves; never let curl decode (the digest is over the raw bytes).
  curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sbx/" SBX_VERSION);
  // Loopback registries must not go through a proxy from the environment.
  if (is_loopback(url.host)) curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(nullptr, &curl_slist_free_all);
  for (const auto& h : request.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  const CURLcode rc = curl_easy_perform(c);
  if (t.sink_error) return std::unexpected(std::move(*t.sink_error));
  const std::string where = url.scheme + "://" + url.authority();
  if (t.too_big)
    return fail(ErrorCode::runtime, "response from " + where + " is larger than " + std::to_string(request.max_body) + " bytes",
                "the registry sent more than sbx accepts for this kind of object; refusing it");
  if (rc != CURLE_OK) {
    std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    std::string hint = "check that the registry is reachable from this machine";
    if (rc == CURLE_OPERATION_TIMEDOUT) hint = "the registry stopped answering; try again later";
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR)
      hint = "the registry's TLS certificate could not be verified against the system CA store";
    if (url.scheme == "https" && rc == CURLE_SSL_CONNECT_ERROR)
      hint += "; a registry that only speaks plain http must be listed in SBX_INSECURE_REGISTRIES";
    return fail(ErrorCode::runtime, request.method + " " + where + " failed: " + why, hint);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
  return std::move(t.response);
}

}  // namespace sbx::image::http
