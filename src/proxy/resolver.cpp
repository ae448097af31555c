#include "proxy/resolver.h"

#include <algorithm>
#include <netdb.h>
#include <sys/socket.h>

#include "common/text.h"
#include "proxy/rules.h"

namespace sbx::proxy {

Result<std::vector<IpAddress>> SystemResolver::resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return fail(ErrorCode::runtime, "cannot resolve " + host + ": " + gai_strerror(rc));
  std::vector<IpAddress> out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    auto a = IpAddress::from_sockaddr(ai->ai_addr);
    if (a && std::find(out.begin(), out.end(), *a) == out.end()) out.push_back(*a);
  }
  freeaddrinfo(res);
  if (out.empty()) return fail(ErrorCode::runtime, "cannot resolve " + host + ": no addresses");
  return out;
}

Result<std::shared_ptr<StaticResolver>> StaticResolver::from_specs(const std::vector<std::string>& specs) {
  auto r = std::make_shared<StaticResolver>();
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    std::string name;
    if (eq == std::string::npos || !normalise_host(spec.substr(0, eq), name))
      return fail(ErrorCode::usage, "bad --resolve entry '" + spec + "'", "write NAME=ADDR[,ADDR...][|ADDR...]");
    auto& answers = r->answers_[name];
    for (const auto& answer : text::split(spec.substr(eq + 1), '|')) {
      std::vector<IpAddress> addrs;
      for (const auto& a : text::split(answer, ',')) {
        auto ip = IpAddress::parse(a);
        if (!ip) return fail(ErrorCode::usage, "bad address '" + a + "' in --resolve entry '" + spec + "'");
        addrs.push_back(*ip);
      }
      answers.push_back(std::move(addrs));
    }
  }
  return r;
}

Result<std::vector<IpAddress>> StaticResolver::resolve(const std::string& host) {
  std::lock_guard lock(mu_);
  auto it = answers_.find(host);
  if (it == answers_.end()) return fail(ErrorCode::runtime, "cannot resolve " + host + ": not in the test table");
  const int n = count_[host]++;
  const auto& list = it->second;
  return list[std::min(static_cast<size_t>(n), list.size() - 1)];
}

int StaticResolver::lookups(const std::string& host) {
  std::lock_guard lock(mu_);
  return count_[host];
}

}  // namespace sbx::proxy
