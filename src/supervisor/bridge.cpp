#include "supervisor/bridge.h"

#include <cerrno>
#include <poll.h>
#include <sys/socket.h>

namespace sbx::supervisor {
namespace proto = sbx::guest::protocol;
using proto::Frame;
using proto::FrameType;

StreamBridge::StreamBridge(std::uint32_t stream, Fd sock)
    : stream_(stream), sock_(std::move(sock)), send_window_(proto::kInitialWindow), recv_credit_(proto::kInitialWindow) {}

void StreamBridge::on_guest_frame(const Frame& f, const Emit& emit) {
  switch (f.type) {
    case FrameType::data:
      if (sent_close_) return;  // racing our CLOSE
      if (guest_eof_ || f.payload.size() > recv_credit_) return abort(emit);  // overrun or DATA after EOF
      recv_credit_ -= static_cast<std::uint32_t>(f.payload.size());
      to_sock_ += f.payload;
      write_socket(emit);
      return;
    case FrameType::window: {
      const std::uint64_t w = static_cast<std::uint64_t>(send_window_) + proto::read_u32(f.payload);
      send_window_ = w > proto::kMaxWindow ? proto::kMaxWindow : static_cast<std::uint32_t>(w);
      return;
    }
    case FrameType::eof:
      guest_eof_ = true;
      write_socket(emit);
      return;
    case FrameType::close:
      got_close_ = true;
      to_sock_.clear();
      send_close(emit);
      return;
    default:
      return;
  }
}

short StreamBridge::events(bool channel_has_room) const {
  if (!sock_ || sent_close_) return 0;
  short ev = 0;
  if (!sock_eof_ && send_window_ > 0 && channel_has_room) ev |= POLLIN;
  if (!to_sock_.empty()) ev |= POLLOUT;
  return ev;
}

void StreamBridge::on_events(short revents, const Emit& emit) {
  if (!sock_ || sent_close_) return;
  if (revents & (POLLOUT | POLLERR | POLLHUP)) write_socket(emit);
  if (!sent_close_ && !sock_eof_ && send_window_ > 0 && (revents & (POLLIN | POLLERR | POLLHUP))) read_socket(emit);
}

void StreamBridge::read_socket(const Emit& emit) {
  char buf[proto::kMaxPayload];
  const size_t want = std::min<size_t>(sizeof buf, send_window_);
  const ssize_t n = ::recv(sock_.get(), buf, want, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n < 0) return abort(emit);
  if (n == 0) {
    sock_eof_ = true;
    emit(proto::empty_frame(FrameType::eof, stream_));
    return maybe_close(emit);
  }
  send_window_ -= static_cast<std::uint32_t>(n);
  emit(proto::data_frame(stream_, std::string_view(buf, static_cast<size_t>(n))));
}

void StreamBridge::write_socket(const Emit& emit) {
  size_t written = 0;
  while (!to_sock_.empty()) {
    const ssize_t n = ::send(sock_.get(), to_sock_.data(), to_sock_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      to_sock_.erase(0, static_cast<size_t>(n));
      written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return abort(emit);  // the proxy closed its end
  }
  if (written > 0) {
    recv_credit_ += static_cast<std::uint32_t>(written);
    emit(proto::window_frame(stream_, static_cast<std::uint32_t>(written)));
  }
  if (to_sock_.empty() && guest_eof_ && !shut_wr_) {
    shut_wr_ = true;
    ::shutdown(sock_.get(), SHUT_WR);
  }
  maybe_close(emit);
}

void StreamBridge::maybe_close(const Emit& emit) {
  if (sock_eof_ && shut_wr_) send_close(emit);
}

void StreamBridge::send_close(const Emit& emit) {
  if (!sent_close_) {
    sent_close_ = true;
    emit(proto::empty_frame(FrameType::close, stream_));
  }
  sock_.reset();
}

void StreamBridge::abort(const Emit& emit) {
  to_sock_.clear();
  send_close(emit);
}

}  // namespace sbx::supervisor
