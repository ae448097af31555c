#include "proxy/relay.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sbx::proxy {

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

void Buffer::ensure(size_t c) {
  if (!data) {
    data.reset(new char[c]);
    cap = c;
  }
}

void Buffer::append(std::string_view s) {
  if (space() < s.size() && start > 0) {
    std::memmove(data.get(), data.get() + start, size());
    end -= start;
    start = 0;
  }
  if (space() < s.size()) {  // only heads and hellos go through here; grow once
    std::unique_ptr<char[]> bigger(new char[end + s.size()]);
    if (end > 0) std::memcpy(bigger.get(), data.get(), end);
    data = std::move(bigger);
    cap = end + s.size();
  }
  std::memcpy(data.get() + end, s.data(), s.size());
  end += s.size();
}

void Splice::close_pipe() {
  if (r >= 0) ::close(r);
  if (w >= 0) ::close(w);
  r = w = -1;
}

bool pump(int src, int dst, Buffer& b, bool& src_eof, std::uint64_t* counter, bool read_allowed, bool& moved,
          bool* readable, bool hup) {
  while (true) {
    bool progress = false;
    if (read_allowed && !src_eof && b.space() > 0 && (!readable || *readable)) {
      const size_t want = b.space();
      const ssize_t n = ::recv(src, b.data.get() + b.end, want, 0);
      if (n > 0) {
        b.end += static_cast<size_t>(n);
        // Short read: the socket is empty until the next edge (unless a FIN is pending).
        if (readable && static_cast<size_t>(n) < want && !hup) *readable = false;
        progress = true;
      } else if (n == 0) {
        src_eof = true;
      } else if (would_block()) {
        if (readable) *readable = false;
      } else if (errno != EINTR) {
        return false;
      }
    }
    if (!b.empty()) {
      const ssize_t n = ::send(dst, b.data.get() + b.start, b.size(), MSG_NOSIGNAL);
      if (n > 0) {
        b.start += static_cast<size_t>(n);
        if (counter) *counter += static_cast<std::uint64_t>(n);
        b.compact();
        progress = true;
      } else if (n < 0 && errno != EINTR && !would_block()) {
        return false;
      }
    }
    if (!progress) return true;
    moved = true;
  }
}

bool splice_pump(int src, int dst, Splice& sp, bool& src_eof, std::uint64_t* counter, bool& moved, bool& readable,
                 bool hup) {
  while (true) {
    bool progress = false;
    if (!src_eof && readable && sp.in_pipe < static_cast<size_t>(kPipeSize)) {
      const size_t want = static_cast<size_t>(kPipeSize) - sp.in_pipe;
      const ssize_t n = ::splice(src, nullptr, sp.w, nullptr, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        sp.in_pipe += static_cast<size_t>(n);
        if (static_cast<size_t>(n) < want && !hup) readable = false;
        progress = true;
      } else if (n == 0) {
        src_eof = true;
      } else if (would_block()) {
        readable = false;
      } else if (errno != EINTR) {
        return false;
      }
    }
    if (sp.in_pipe > 0) {
      const ssize_t n = ::splice(sp.r, nullptr, dst, nullptr, sp.in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        sp.in_pipe -= static_cast<size_t>(n);
        if (counter) *counter += static_cast<std::uint64_t>(n);
        progress = true;
      } else if (n < 0 && errno != EINTR && !would_block()) {
        return false;
      }
    }
    if (!progress) return true;
    moved = true;
  }
}

bool tunnel_pump(int src, int dst, Buffer& b, Splice& sp, bool& src_eof, std::uint64_t* counter, bool& moved,
                 bool& readable, bool hup) {
  if (!sp.active()) {
    const std::uint64_t before = counter ? *counter : 0;
    if (!pump(src, dst, b, src_eof, counter, true, moved, &readable, hup)) return false;
    sp.through += (counter ? *counter : 0) - before;
    if (sp.through < kSpliceAfter || !b.empty() || src_eof) return true;
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return true;  // no fds to spare: stay on the buffer
    fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);
    sp.r = fds[0];
    sp.w = fds[1];
  }
  return splice_pump(src, dst, sp, src_eof, counter, moved, readable, hup);
}

}  // namespace sbx::proxy
