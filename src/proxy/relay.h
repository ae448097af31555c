#pragma once
// Internal: moving bytes between two non-blocking sockets, through a user-space buffer or, for
// bulk tunnels, a kernel pipe with splice(). No knowledge of connections or HTTP.
#include <cstdint>
#include <memory>
#include <string_view>

#include "common/fd.h"  // set_nonblocking

namespace sbx::proxy {

/// Switch a tunnel direction from the buffer to splice() after it has carried this much.
constexpr std::uint64_t kSpliceAfter = 1 << 20;
/// The size asked for the pipe of a spliced direction.
constexpr int kPipeSize = 1 << 20;

/// Whether the last call failed only because it would have blocked.
bool would_block();

/// A flat buffer for one direction of a relay.
struct Buffer {
  std::unique_ptr<char[]> data;
  size_t cap = 0, start = 0, end = 0;
  /// Allocate `c` bytes unless already allocated.
  void ensure(size_t c);
  size_t size() const { return end - start; }
  bool empty() const { return start == end; }
  size_t space() const { return cap - end; }
  /// Rewind to the front once everything was written.
  void compact() {
    if (start == end) start = end = 0;
  }
  /// Append bytes, moving or growing once if needed (only heads and hellos go through here).
  void append(std::string_view s);
};

/// A kernel pipe used to splice one direction of a busy tunnel.
struct Splice {
  int r = -1, w = -1;
  size_t in_pipe = 0;         // bytes sitting in the pipe
  std::uint64_t through = 0;  // bytes seen through the user-space buffer (to decide to switch)
  bool active() const { return r >= 0; }
  void close_pipe();
  ~Splice() { close_pipe(); }
};

/// Pump src -> buffer -> dst until both sides would block; false on a fatal error. `src_eof` is
/// set when src reports end of file; `counter` (if given) counts bytes written to dst; `moved`
/// is set when anything moved. With `readable`, src is read only while *readable, and a short
/// read clears it (the socket is empty until its next edge) unless `hup` says a FIN is pending.
bool pump(int src, int dst, Buffer& b, bool& src_eof, std::uint64_t* counter, bool read_allowed, bool& moved,
          bool* readable = nullptr, bool hup = false);

/// Move src -> pipe -> dst with splice(); false on a fatal error. Arguments as for pump().
bool splice_pump(int src, int dst, Splice& sp, bool& src_eof, std::uint64_t* counter, bool& moved, bool& readable,
                 bool hup);

/// One tunnel direction: the buffer until it has carried kSpliceAfter bytes, then a pipe.
bool tunnel_pump(int src, int dst, Buffer& b, Splice& sp, bool& src_eof, std::uint64_t* counter, bool& moved,
                 bool& readable, bool hup);

}  // namespace sbx::proxy
