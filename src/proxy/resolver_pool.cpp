#include "proxy/resolver_pool.h"

namespace sbx::proxy {

ResolverPool::ResolverPool(std::shared_ptr<Resolver> resolver, std::function<void()> on_done)
    : resolver_(std::move(resolver)), on_done_(std::move(on_done)) {}

void ResolverPool::start(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { worker(); });
}

bool ResolverPool::submit(std::uint64_t id, std::string host) {
  {
    std::lock_guard l(jobs_mu_);
    if (jobs_.size() >= kMaxQueue) return false;
    jobs_.push_back(Job{id, std::move(host)});
  }
  jobs_cv_.notify_one();
  return true;
}

std::deque<ResolveDone> ResolverPool::take_done() {
  std::deque<ResolveDone> out;
  std::lock_guard l(done_mu_);
  out.swap(done_);
  return out;
}

void ResolverPool::request_stop() {
  {
    std::lock_guard l(jobs_mu_);
    stopping_ = true;
  }
  jobs_cv_.notify_all();
}

void ResolverPool::stop() {
  request_stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void ResolverPool::worker() {
  while (true) {
    Job job;
    {
      std::unique_lock l(jobs_mu_);
      jobs_cv_.wait(l, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    auto r = resolver_->resolve(job.host);
    {
      std::lock_guard l(done_mu_);
      done_.push_back(ResolveDone{job.id, std::move(r)});
    }
    on_done_();
  }
}

const std::vector<IpAddress>* AnswerCache::find(const std::string& host, Clock::time_point now) {
  const auto hit = entries_.find(host);
  if (hit == entries_.end()) return nullptr;
  if (now < hit->second.second) return &hit->second.first;
  entries_.erase(hit);
  return nullptr;
}

void AnswerCache::put(const std::string& host, const std::vector<IpAddress>& addrs, Clock::time_point expires) {
  if (entries_.size() >= 4096) entries_.clear();
  entries_[host] = {addrs, expires};
}

}  // namespace sbx::proxy
