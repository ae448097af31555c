#include "fuzz_channel.h"

#include <cstdlib>
#include <string_view>

#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"

namespace sbx::guest::test {
namespace p = sbx::guest::protocol;

void fuzz_channel_input(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // First byte picks the chunking, so the fuzzer explores frame splits too.
  std::size_t chunk = in.empty() ? 1 : (static_cast<unsigned char>(in[0]) % 64) + 1;
  if (!in.empty()) in.remove_prefix(1);
  p::Decoder d;
  for (std::size_t off = 0; off < in.size(); off += chunk) {
    d.feed(in.substr(off, chunk));
    while (auto f = d.next()) {
      // A decoded frame is always valid and re-encodes to the same bytes.
      if (!p::validate(*f).empty()) std::abort();
      auto again = p::encode(*f);
      p::Decoder d2;
      d2.feed(again);
      auto f2 = d2.next();
      if (!f2 || !(*f2 == *f)) std::abort();
      switch (f->type) {
        case p::FrameType::hello: (void)p::parse_hello(f->payload); break;
        case p::FrameType::config: (void)p::parse_config(f->payload); break;
        case p::FrameType::ready: (void)p::parse_ready(f->payload); break;
        case p::FrameType::open: {
          auto o = p::parse_open(f->payload);
          // What parses must survive its own round trip.
          if (o && !p::parse_open(p::to_json(*o))) std::abort();
          break;
        }
        case p::FrameType::open_ok: (void)p::parse_open_ok(f->payload); break;
        case p::FrameType::open_fail: (void)p::parse_open_fail(f->payload); break;
        case p::FrameType::exit: (void)p::parse_exit(*f); break;
        case p::FrameType::resize: (void)p::parse_resize(*f); break;
        case p::FrameType::error: (void)p::parse_error_message(f->payload); break;
        default: break;
      }
    }
    if (d.buffered() > p::kHeaderSize + p::kMaxPayload + chunk) std::abort();
    if (d.failed()) break;
  }
  // The OPEN parser also sees the raw input, as JSON.
  auto o = p::parse_open(in);
  if (o && !p::parse_open(p::to_json(*o))) std::abort();
  (void)p::parse_config(in);
}

}  // namespace sbx::guest::test
