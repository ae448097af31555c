#include <catch2/catch.hpp>

#include "guest/protocol/frame.h"

namespace p = sbx::guest::protocol;

namespace {
std::string header(std::uint8_t type, std::uint8_t flags, std::uint16_t reserved, std::uint32_t stream,
                   std::uint32_t len) {
  std::string h;
  h.push_back(static_cast<char>(type));
  h.push_back(static_cast<char>(flags));
  h.push_back(static_cast<char>(reserved & 0xff));
  h.push_back(static_cast<char>(reserved >> 8));
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>((stream >> (8 * i)) & 0xff));
  for (int i = 0; i < 4; ++i) h.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  return h;
}

std::string decode_error(const std::string& bytes) {
  p::Decoder d;
  d.feed(bytes);
  while (d.next()) {
  }
  return d.error();
}
}  // namespace

TEST_CASE("frames round-trip through the encoder and the decoder byte by byte", "[guest][protocol]") {
  std::vector<p::Frame> frames = {
      p::Frame{p::FrameType::hello, 0, 0, R"({"protocol":1})"},
      p::data_frame(3, "stdout bytes"),
      p::data_frame(3, std::string("err\0bytes", 9), p::kChannelStderr),
      p::window_frame(3, 4096),
      p::exit_frame(3, -1, 9),
      p::resize_frame(5, 40, 120),
      p::signal_frame(5, 15),
      p::empty_frame(p::FrameType::eof, 7),
      p::empty_frame(p::FrameType::close, 7),
      p::data_frame(9, std::string(p::kMaxPayload, 'z')),
  };
  std::string wire;
  for (const auto& f : frames) p::encode_to(wire, f);
  p::Decoder d;
  std::vector<p::Frame> out;
  for (char c : wire) {  // worst case fragmentation
    d.feed(&c, 1);
    while (auto f = d.next()) out.push_back(*f);
  }
  REQUIRE_FALSE(d.failed());
  REQUIRE(out == frames);
  CHECK(d.buffered() == 0);
  CHECK(p::parse_exit(out[4]).code == -1);
  CHECK(p::parse_exit(out[4]).signal == 9);
  CHECK(p::parse_resize(out[5]).rows == 40);
  CHECK(p::parse_resize(out[5]).cols == 120);
}

TEST_CASE("the wire header is 12 little-endian bytes", "[guest][protocol]") {
  auto wire = p::encode(p::data_frame(0x01020304, "ab", 1));
  CHECK(wire == header(7, 1, 0, 0x01020304, 2) + "ab");
}

TEST_CASE("the decoder refuses malformed headers before reading the payload", "[guest][protocol]") {
  CHECK(decode_error(header(0, 0, 0, 0, 0)).find("unknown frame type") != std::string::npos);
  CHECK(decode_error(header(200, 0, 0, 1, 0)).find("unknown frame type") != std::string::npos);
  CHECK(decode_error(header(7, 0, 1, 1, 0)).find("reserved") != std::string::npos);
  CHECK(decode_error(header(7, 2, 0, 1, 0)).find("sub-channel") != std::string::npos);
  CHECK(decode_error(header(10, 1, 0, 1, 0)).find("flags") != std::string::npos);
  // A huge length is refused from the header alone, without waiting for 4 GiB.
  CHECK(decode_error(header(7, 0, 0, 1, 0xffffffff)).find("exceeds") != std::string::npos);
  CHECK(decode_error(header(7, 0, 0, 1, p::kMaxPayload + 1)).find("exceeds") != std::string::npos);
  CHECK(decode_error(header(1, 0, 0, 5, 0)).find("stream 0") != std::string::npos);
  CHECK(decode_error(header(7, 0, 0, 0, 0)).find("stream 0") != std::string::npos);
  CHECK(decode_error(header(8, 0, 0, 1, 3) + "abc").find("must be 4 bytes") != std::string::npos);
  CHECK(decode_error(header(10, 0, 0, 1, 1) + "x").find("must be 0 bytes") != std::string::npos);
  CHECK(decode_error(header(15, 0, 0, 0, 65) + std::string(65, 'p')).find("64 bytes") != std::string::npos);
}

TEST_CASE("the decoder refuses out-of-range fixed payloads", "[guest][protocol]") {
  CHECK(decode_error(header(8, 0, 0, 1, 4) + std::string(4, '\0')).find("WINDOW") != std::string::npos);
  CHECK(decode_error(header(8, 0, 0, 1, 4) + std::string("\xff\xff\xff\xff", 4)).find("WINDOW") !=
        std::string::npos);
  CHECK(decode_error(header(12, 0, 0, 1, 4) + std::string("\x41\0\0\0", 4)).find("SIGNAL") != std::string::npos);
  CHECK(decode_error(header(13, 0, 0, 1, 4) + std::string("\0\0\x10\0", 4)).find("RESIZE") != std::string::npos);
}

TEST_CASE("a failed decoder stays failed and yields nothing more", "[guest][protocol]") {
  p::Decoder d;
  d.feed(header(99, 0, 0, 0, 0));
  CHECK_FALSE(d.next().has_value());
  REQUIRE(d.failed());
  d.feed(p::encode(p::data_frame(1, "ok")));
  CHECK_FALSE(d.next().has_value());
  CHECK(d.failed());
}

TEST_CASE("the encoder refuses to build invalid frames", "[guest][protocol]") {
  CHECK_THROWS(p::encode(p::Frame{p::FrameType::data, 0, 0, "x"}));
  CHECK_THROWS(p::encode(p::Frame{p::FrameType::hello, 0, 3, "{}"}));
  CHECK_THROWS(p::encode(p::data_frame(1, std::string(p::kMaxPayload + 1, 'x'))));
  CHECK_THROWS(p::encode(p::window_frame(1, 0)));
}

TEST_CASE("type names match PROTOCOL.md and control types live on stream 0", "[guest][protocol]") {
  CHECK(p::type_name(p::FrameType::open_fail) == "OPEN_FAIL");
  CHECK(p::type_name(static_cast<p::FrameType>(77)) == "UNKNOWN");
  CHECK(p::is_control_type(p::FrameType::shutdown));
  CHECK_FALSE(p::is_control_type(p::FrameType::data));
}
