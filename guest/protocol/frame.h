#pragma once
// The host<->guest channel framing (see guest/PROTOCOL.md): a 12-byte little-endian header
// {u8 type, u8 flags, u16 reserved, u32 stream_id, u32 payload_length} and a payload.
// Pure code, no I/O and no dependencies, shared by the guest agent and the host supervisor.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sbx::guest::protocol {

/// Protocol version carried in HELLO.
inline constexpr int kProtocolVersion = 1;
/// Size of the fixed frame header in bytes.
inline constexpr std::size_t kHeaderSize = 12;
/// Largest payload a frame may carry; larger is a protocol error.
inline constexpr std::uint32_t kMaxPayload = 64 * 1024;
/// Send window each side starts with on a new stream.
inline constexpr std::uint32_t kInitialWindow = 256 * 1024;
/// Largest window a side may accumulate.
inline constexpr std::uint32_t kMaxWindow = 0x7fffffff;
/// Largest PING payload.
inline constexpr std::uint32_t kMaxPing = 64;
/// Name of the virtio-serial port carrying the control channel.
inline constexpr std::string_view kPortName = "sbx.ctl";
/// Guest-side TCP port of the HTTP proxy listener on 127.0.0.1.
inline constexpr std::uint16_t kProxyPort = 3128;

/// Frame types; values are the wire values.
enum class FrameType : std::uint8_t {
  hello = 1,
  config = 2,
  ready = 3,
  open = 4,
  open_ok = 5,
  open_fail = 6,
  data = 7,
  window = 8,
  eof = 9,
  close = 10,
  exit = 11,
  signal = 12,
  resize = 13,
  shutdown = 14,
  ping = 15,
  pong = 16,
  error = 17,
};

/// DATA sub-channels (the `flags` byte).
inline constexpr std::uint8_t kChannelMain = 0;    // stdin, stdout, proxy bytes, log lines
inline constexpr std::uint8_t kChannelStderr = 1;  // exec stderr (guest -> host)

/// One frame; payload holds raw bytes.
struct Frame {
  FrameType type = FrameType::ping;
  std::uint8_t flags = 0;
  std::uint32_t stream = 0;
  std::string payload;

  bool operator==(const Frame&) const = default;
};

/// The type's name as PROTOCOL.md spells it ("OPEN_OK"), or "UNKNOWN".
std::string_view type_name(FrameType t);
/// True for the types that live on stream 0.
bool is_control_type(FrameType t);

/// Check a frame against every stateless rule (type, flags, stream 0 rules, lengths).
/// Returns an empty string when valid, else the reason.
std::string validate(const Frame& f);

/// Append the wire form of `f` to `out`. The frame must be valid (a bug otherwise: throws).
void encode_to(std::string& out, const Frame& f);
/// The wire form of `f`.
std::string encode(const Frame& f);

/// Streaming decoder: feed bytes as they arrive, take whole frames out.
/// After the first protocol error it stays failed and yields nothing more.
class Decoder {
 public:
  /// Append received bytes.
  void feed(const void* data, std::size_t size);
  void feed(std::string_view bytes) { feed(bytes.data(), bytes.size()); }
  /// The next complete frame, or nullopt if more bytes are needed or the decoder failed.
  std::optional<Frame> next();
  /// True once a protocol error was found.
  bool failed() const { return !error_.empty(); }
  /// The protocol error, empty if none.
  const std::string& error() const { return error_; }
  /// Bytes held waiting for the rest of a frame.
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  std::string error_;
};

/// Little-endian helpers for the fixed payloads.
std::string u32_payload(std::uint32_t v);
std::uint32_t read_u32(std::string_view p, std::size_t at = 0);

/// WINDOW frame granting `credit` bytes.
Frame window_frame(std::uint32_t stream, std::uint32_t credit);
/// SIGNAL frame.
Frame signal_frame(std::uint32_t stream, std::uint32_t signo);
/// RESIZE frame.
Frame resize_frame(std::uint32_t stream, std::uint16_t rows, std::uint16_t cols);
/// EXIT frame: exit code and terminating signal (0 if none).
Frame exit_frame(std::uint32_t stream, std::int32_t code, std::uint32_t signo);
/// A frame with an empty payload (EOF, CLOSE, SHUTDOWN...).
Frame empty_frame(FrameType t, std::uint32_t stream);
/// DATA frame on a sub-channel.
Frame data_frame(std::uint32_t stream, std::string_view bytes, std::uint8_t channel = kChannelMain);

/// Decoded fixed payloads (the frame must have passed validate()).
struct ExitStatus {
  std::int32_t code = 0;
  std::uint32_t signal = 0;
};
ExitStatus parse_exit(const Frame& f);
struct WindowSize {
  std::uint16_t rows = 24;
  std::uint16_t cols = 80;
};
WindowSize parse_resize(const Frame& f);

}  // namespace sbx::guest::protocol
