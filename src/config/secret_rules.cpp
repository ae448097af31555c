#include "config/secret_rules.h"

#include <algorithm>

#include "config/diagnostics.h"
#include "config/egress_rule.h"
#include "config/names.h"

namespace sbx::config {

namespace {

// Headers the proxy owns; injecting them would break or smuggle requests.
constexpr std::string_view kForbiddenHeaders[] = {"host", "content-length", "transfer-encoding", "connection",
                                                  "upgrade", "te", "trailer", "keep-alive",
                                                  "proxy-authorization", "proxy-connection"};

}  // namespace

bool is_header_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

bool is_proxy_owned_header(std::string_view name) {
  return std::find(std::begin(kForbiddenHeaders), std::end(kForbiddenHeaders), normalise_host(name)) != std::end(kForbiddenHeaders);
}

Result<void> check_secret_name(std::string_view name) {
  if (is_secret_name(name)) return {};
  return fail(ErrorCode::invalid, "invalid secret name '" + printable(name) + "'",
              "secret names are letters, digits, '_', '-' and '.', at most 128, starting with a letter, a digit or '_'");
}

Result<std::string> check_secret_host(std::string_view text, const HostMatcher& allowed, const HostMatcher& denied) {
  auto r = parse_host_pattern(text);
  if (!r || r->kind != HostPatternKind::exact)
    return fail(ErrorCode::invalid, "secret host '" + printable(text) + "' is not an exact host name",
                "a secret is sent only to hosts named exactly, e.g. \"api.github.com\" (no wildcards, patterns or addresses)");
  if (denied.matches(r->pattern) || !allowed.matches(r->pattern))
    return fail(ErrorCode::invalid, "secret host '" + r->pattern + "' is not allowed by [egress]",
                "add \"" + r->pattern + "\" to [egress] allow, or the proxy could never send the secret there");
  return std::move(r->pattern);
}

Result<void> check_secret_header(std::string_view header) {
  if (!is_header_name(header))
    return fail(ErrorCode::invalid, "invalid header name '" + printable(header) + "'",
                "header names are letters, digits and !#$%&'*+-.^_`|~");
  if (is_proxy_owned_header(header))
    return fail(ErrorCode::invalid, "the proxy owns the '" + std::string(header) + "' header; a secret cannot set it",
                "use a header such as Authorization or X-Api-Key");
  return {};
}

Result<void> check_value_template(std::string_view v) {
  const size_t first = v.find("{}");
  if (first == std::string_view::npos || v.find("{}", first + 2) != std::string_view::npos)
    return fail(ErrorCode::invalid, "'template' must contain '{}' exactly once",
                "'{}' is where the secret goes, e.g. template = \"Bearer {}\"");
  if (v.find_first_of("\r\n") != std::string_view::npos || v.size() > 1024)
    return fail(ErrorCode::invalid, "'template' must be one line of at most 1024 bytes", "remove the line breaks");
  return {};
}

}  // namespace sbx::config
