#include "guest/protocol/frame.h"

#include <stdexcept>

namespace sbx::guest::protocol {
namespace {

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint16_t get_u16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }

std::uint32_t get_u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

bool known_type(std::uint8_t t) { return t >= 1 && t <= 17; }

// Required payload size for fixed-size types, or -1 when variable.
long fixed_size(FrameType t) {
  switch (t) {
    case FrameType::window:
    case FrameType::signal:
    case FrameType::resize:
      return 4;
    case FrameType::exit:
      return 8;
    case FrameType::eof:
    case FrameType::close:
      return 0;
    default:
      return -1;
  }
}

// Checks that need only the header.
std::string validate_header(std::uint8_t type, std::uint8_t flags, std::uint16_t reserved,
                            std::uint32_t stream, std::uint32_t length) {
  if (!known_type(type)) return "unknown frame type " + std::to_string(type);
  auto t = static_cast<FrameType>(type);
  if (reserved != 0) return std::string(type_name(t)) + " frame has non-zero reserved bits";
  if (length > kMaxPayload)
    return std::string(type_name(t)) + " frame payload of " + std::to_string(length) +
           " bytes exceeds the 65536-byte limit";
  if (t == FrameType::data) {
    if (flags > kChannelStderr) return "DATA frame has unknown sub-channel " + std::to_string(flags);
  } else if (flags != 0) {
    return std::string(type_name(t)) + " frame has non-zero flags";
  }
  if (is_control_type(t) && stream != 0) return std::string(type_name(t)) + " frame must be on stream 0";
  if (!is_control_type(t) && stream == 0) return std::string(type_name(t)) + " frame must not be on stream 0";
  long fixed = fixed_size(t);
  if (fixed >= 0 && length != static_cast<std::uint32_t>(fixed))
    return std::string(type_name(t)) + " frame payload must be " + std::to_string(fixed) + " bytes, got " +
           std::to_string(length);
  if ((t == FrameType::ping || t == FrameType::pong) && length > kMaxPing)
    return std::string(type_name(t)) + " payload longer than 64 bytes";
  return {};
}

// Checks that need the payload too.
std::string validate_payload(FrameType t, std::string_view p) {
  switch (t) {
    case FrameType::window: {
      std::uint32_t v = read_u32(p);
      if (v == 0 || v > kMaxWindow) return "WINDOW increment " + std::to_string(v) + " out of range";
      break;
    }
    case FrameType::signal: {
      std::uint32_t v = read_u32(p);
      if (v < 1 || v > 64) return "SIGNAL number " + std::to_string(v) + " out of range 1..64";
      break;
    }
    case FrameType::resize: {
      auto* b = reinterpret_cast<const unsigned char*>(p.data());
      if (get_u16(b) == 0 || get_u16(b + 2) == 0) return "RESIZE rows and cols must be at least 1";
      break;
    }
    case FrameType::exit: {
      std::uint32_t sig = read_u32(p, 4);
      if (sig > 64) return "EXIT signal " + std::to_string(sig) + " out of range";
      break;
    }
    default:
      break;
  }
  return {};
}

}  // namespace

std::string_view type_name(FrameType t) {
  switch (t) {
    case FrameType::hello: return "HELLO";
    case FrameType::config: return "CONFIG";
    case FrameType::ready: return "READY";
    case FrameType::open: return "OPEN";
    case FrameType::open_ok: return "OPEN_OK";
    case FrameType::open_fail: return "OPEN_FAIL";
    case FrameType::data: return "DATA";
    case FrameType::window: return "WINDOW";
    case FrameType::eof: return "EOF";
    case FrameType::close: return "CLOSE";
    case FrameType::exit: return "EXIT";
    case FrameType::signal: return "SIGNAL";
    case FrameType::resize: return "RESIZE";
    case FrameType::shutdown: return "SHUTDOWN";
    case FrameType::ping: return "PING";
    case FrameType::pong: return "PONG";
    case FrameType::error: return "ERROR";
  }
  return "UNKNOWN";
}

bool is_control_type(FrameType t) {
  switch (t) {
    case FrameType::hello:
    case FrameType::config:
    case FrameType::ready:
    case FrameType::shutdown:
    case FrameType::ping:
    case FrameType::pong:
    case FrameType::error:
      return true;
    default:
      return false;
  }
}

std::string validate(const Frame& f) {
  if (f.payload.size() > kMaxPayload) return "payload exceeds the 65536-byte limit";
  auto err = validate_header(static_cast<std::uint8_t>(f.type), f.flags, 0, f.stream,
                             static_cast<std::uint32_t>(f.payload.size()));
  if (!err.empty()) return err;
  return validate_payload(f.type, f.payload);
}

void encode_to(std::string& out, const Frame& f) {
  auto err = validate(f);
  if (!err.empty()) throw std::logic_error("encoding an invalid frame: " + err);
  out.reserve(out.size() + kHeaderSize + f.payload.size());
  out.push_back(static_cast<char>(f.type));
  out.push_back(static_cast<char>(f.flags));
  put_u16(out, 0);
  put_u32(out, f.stream);
  put_u32(out, static_cast<std::uint32_t>(f.payload.size()));
  out.append(f.payload);
}

std::string encode(const Frame& f) {
  std::string out;
  encode_to(out, f);
  return out;
}

void Decoder::feed(const void* data, std::size_t size) {
  if (failed() || size == 0) return;
  // Compact consumed bytes so the buffer never grows past one frame plus one read.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(static_cast<const char*>(data), size);
}

std::optional<Frame> Decoder::next() {
  if (failed()) return std::nullopt;
  std::size_t avail = buf_.size() - pos_;
  if (avail < kHeaderSize) return std::nullopt;
  auto* h = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
  std::uint8_t type = h[0];
  std::uint8_t flags = h[1];
  std::uint16_t reserved = get_u16(h + 2);
  std::uint32_t stream = get_u32(h + 4);
  std::uint32_t length = get_u32(h + 8);
  // Validate the header before waiting for the payload: a hostile length is refused at once.
  if (auto err = validate_header(type, flags, reserved, stream, length); !err.empty()) {
    error_ = std::move(err);
    buf_.clear();
    pos_ = 0;
    return std::nullopt;
  }
  if (avail < kHeaderSize + length) return std::nullopt;
  Frame f;
  f.type = static_cast<FrameType>(type);
  f.flags = flags;
  f.stream = stream;
  f.payload.assign(buf_, pos_ + kHeaderSize, length);
  pos_ += kHeaderSize + length;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  if (auto err = validate_payload(f.type, f.payload); !err.empty()) {
    error_ = std::move(err);
    buf_.clear();
    pos_ = 0;
    return std::nullopt;
  }
  return f;
}

std::string u32_payload(std::uint32_t v) {
  std::string s;
  put_u32(s, v);
  return s;
}

std::uint32_t read_u32(std::string_view p, std::size_t at) {
  if (p.size() < at + 4) return 0;
  return get_u32(reinterpret_cast<const unsigned char*>(p.data() + at));
}

Frame window_frame(std::uint32_t stream, std::uint32_t credit) {
  return Frame{FrameType::window, 0, stream, u32_payload(credit)};
}

Frame signal_frame(std::uint32_t stream, std::uint32_t signo) {
  return Frame{FrameType::signal, 0, stream, u32_payload(signo)};
}

Frame resize_frame(std::uint32_t stream, std::uint16_t rows, std::uint16_t cols) {
  std::string p;
  put_u16(p, rows);
  put_u16(p, cols);
  return Frame{FrameType::resize, 0, stream, std::move(p)};
}

Frame exit_frame(std::uint32_t stream, std::int32_t code, std::uint32_t signo) {
  std::string p;
  put_u32(p, static_cast<std::uint32_t>(code));
  put_u32(p, signo);
  return Frame{FrameType::exit, 0, stream, std::move(p)};
}

Frame empty_frame(FrameType t, std::uint32_t stream) { return Frame{t, 0, stream, {}}; }

Frame data_frame(std::uint32_t stream, std::string_view bytes, std::uint8_t channel) {
  return Frame{FrameType::data, channel, stream, std::string(bytes)};
}

ExitStatus parse_exit(const Frame& f) {
  return ExitStatus{static_cast<std::int32_t>(read_u32(f.payload, 0)), read_u32(f.payload, 4)};
}

WindowSize parse_resize(const Frame& f) {
  if (f.payload.size() < 4) return {};
  auto* b = reinterpret_cast<const unsigned char*>(f.payload.data());
  return WindowSize{get_u16(b), get_u16(b + 2)};
}

}  // namespace sbx::guest::protocol
