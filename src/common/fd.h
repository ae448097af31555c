#pragma once
// An owned file descriptor, and the few things done to a bare one.

namespace sbx {

/// An owned file descriptor, closed on destruction; move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  /// The descriptor, still owned (-1 when empty).
  int get() const { return fd_; }
  /// True when it holds a descriptor.
  explicit operator bool() const { return fd_ >= 0; }
  /// Give up ownership: the caller closes what is returned.
  int release();
  /// Close the held descriptor (if any) and own `fd` instead.
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// In a forked child, before exec: close every descriptor from `first` up, so the program gets
/// only the stdio it was given, not what this process holds or itself inherited without
/// O_CLOEXEC. (mmdebstrap's shell hooks fail with "Bad fd number" once its own pipes land above
/// fd 9.) Async-signal-safe: close_range(2), or a bounded close() loop where that is missing.
void close_fds_from(int first);

/// Add O_NONBLOCK to `fd`'s file status flags; false (errno set) when fcntl refuses.
bool set_nonblocking(int fd);

}  // namespace sbx
