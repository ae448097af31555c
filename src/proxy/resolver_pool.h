#pragma once
// Internal: the worker threads that resolve names for the event loop, and the loop's short-lived
// cache of their answers. The loop submits (id, host) and takes the answers after a wake-up.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proxy/resolver.h"

namespace sbx::proxy {

/// One finished lookup, for the connection `id`.
struct ResolveDone {
  std::uint64_t id;
  Result<std::vector<IpAddress>> result;
};

/// A bounded queue of lookups served by worker threads calling a Resolver.
class ResolverPool {
 public:
  /// Lookups beyond this many waiting are refused (submit() returns false).
  static constexpr size_t kMaxQueue = 4096;

  /// `on_done` runs on a worker thread after each answer is queued (the loop's wake-up).
  ResolverPool(std::shared_ptr<Resolver> resolver, std::function<void()> on_done);
  ~ResolverPool() { stop(); }
  ResolverPool(const ResolverPool&) = delete;
  ResolverPool& operator=(const ResolverPool&) = delete;

  /// Start `threads` workers (at least one).
  void start(int threads);
  /// Queue a lookup of `host` for connection `id`; false when the queue is full.
  bool submit(std::uint64_t id, std::string host);
  /// The answers that arrived since the last call, oldest first.
  std::deque<ResolveDone> take_done();
  /// Ask the workers to stop without waiting for them.
  void request_stop();
  /// Stop the workers and wait for them (a lookup in progress finishes first).
  void stop();

 private:
  struct Job {
    std::uint64_t id;
    std::string host;
  };
  void worker();

  std::shared_ptr<Resolver> resolver_;
  std::function<void()> on_done_;
  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;  // under jobs_mu_
  std::mutex done_mu_;
  std::deque<ResolveDone> done_;
  std::vector<std::thread> threads_;
};

/// Recent answers, used by the loop thread only. Safe against rebinding: every use re-checks
/// each address and connects to exactly the checked one; it only saves the trip to a worker.
class AnswerCache {
 public:
  using Clock = std::chrono::steady_clock;
  /// The addresses stored for `host` if still fresh at `now` (a stale entry is dropped).
  const std::vector<IpAddress>* find(const std::string& host, Clock::time_point now);
  /// Keep `addrs` for `host` until `now + ttl` (the cache is emptied when it grows past 4096).
  void put(const std::string& host, const std::vector<IpAddress>& addrs, Clock::time_point expires);

 private:
  std::unordered_map<std::string, std::pair<std::vector<IpAddress>, Clock::time_point>> entries_;
};

}  // namespace sbx::proxy
