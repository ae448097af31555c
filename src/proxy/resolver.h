#pragma once
// Name resolution for the proxy. The proxy resolves every name itself, checks every address,
// and connects to exactly the address it checked. Resolvers are called from worker threads;
// the proxy bounds the time it waits.
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "proxy/address.h"

namespace sbx::proxy {

/// Turns a host name into addresses. Implementations must be thread-safe.
class Resolver {
 public:
  virtual ~Resolver() = default;
  /// All addresses of `host` (TCP), or an error saying why none.
  virtual Result<std::vector<IpAddress>> resolve(const std::string& host) = 0;
};

/// The system resolver (getaddrinfo).
class SystemResolver final : public Resolver {
 public:
  Result<std::vector<IpAddress>> resolve(const std::string& host) override;
};

/// A fixed table for tests ("name=addr[,addr...][|next answer...]"): each lookup of a name
/// returns its next answer (the last one repeats), so a test can play DNS rebinding.
/// Names not in the table fail to resolve. Only for tests: never consults real DNS.
class StaticResolver final : public Resolver {
 public:
  /// Parse specs such as "allowed.test=127.0.0.1" or "rebind.test=127.0.0.1|169.254.169.254".
  static Result<std::shared_ptr<StaticResolver>> from_specs(const std::vector<std::string>& specs);
  Result<std::vector<IpAddress>> resolve(const std::string& host) override;
  /// How many times `host` was looked up.
  int lookups(const std::string& host);

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<std::vector<IpAddress>>> answers_;
  std::map<std::string, int> count_;
};

}  // namespace sbx::proxy
