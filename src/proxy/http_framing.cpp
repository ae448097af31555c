// Where each message's body ends, for bytes that pass through the proxy unchanged: the responses
// on one upstream connection (ResponseFramer) and chunked bodies (ChunkedFramer). Declared in
// http_parser.h beside the head parser whose results they follow.
#include <algorithm>

#include "proxy/http_chars.h"
#include "proxy/http_parser.h"

namespace sbx::proxy {

void ResponseFramer::expect(bool head_request, bool websocket) {
  state_ = State::head;
  head_request_ = head_request;
  websocket_ = websocket;
  started_ = false;
  until_close_ = false;
  status_ = 0;
  head_.clear();
}

ResponseFramer::Status ResponseFramer::feed(std::string_view in, size_t& used, std::string& out,
                                            const HeadLimits& limits) {
  used = 0;
  while (used < in.size()) {
    const std::string_view rest = in.substr(used);
    switch (state_) {
      case State::idle:
        reason_ = "the upstream sent bytes with no request outstanding";
        return error;
      case State::head: {
        const size_t before = head_.size();
        head_.append(rest.substr(0, std::min(rest.size(), limits.max_head_bytes + 4 - std::min(before, limits.max_head_bytes))));
        ResponseHead h;
        const auto r = parse_response_head(head_, limits, head_request_, h);
        if (r.status == ParseResult::error) {
          reason_ = r.reason;
          return error;
        }
        if (r.status == ParseResult::incomplete) {
          used += head_.size() - before;
          if (head_.size() == before) {  // cannot happen below the size limit; never spin
            reason_ = "the response head is too large";
            return error;
          }
          break;
        }
        // Only a switch to the protocol the request asked for, and only WebSocket: an h2c (or any
        // other) switch would hand the client an unframed stream to the upstream. A refused 101
        // is not passed on, so the client can still be told why.
        if (h.status == 101 && !(websocket_ && h.websocket && h.minor_version == 1)) {
          reason_ = websocket_ ? "the upstream's 101 does not switch to websocket (Upgrade: websocket and Connection: upgrade)"
                               : "the upstream switched protocols (101) without a WebSocket upgrade request";
          return error;
        }
        used += r.consumed - before;
        out.append(head_, 0, r.consumed);
        head_.clear();
        started_ = true;
        if (h.status == 101) {
          status_ = 101;
          keep_alive_ = false;
          state_ = State::idle;
          return upgraded;
        }
        if (h.status < 200) break;  // interim response: the final one follows
        status_ = h.status;
        keep_alive_ = h.keep_alive;
        until_close_ = h.until_close;
        if (h.until_close) state_ = State::close;
        else if (h.body == BodyKind::chunked) {
          state_ = State::chunked;
          chunk_ = ChunkedFramer{};
        } else if (h.body == BodyKind::length) {
          state_ = State::length;
          left_ = h.content_length;
        } else {
          state_ = State::idle;
          return done;
        }
        break;
      }
      case State::length: {
        const size_t take = static_cast<size_t>(std::min<std::uint64_t>(left_, rest.size()));
        out.append(rest.substr(0, take));
        used += take;
        left_ -= take;
        if (left_ == 0) {
          state_ = State::idle;
          return done;
        }
        break;
      }
      case State::chunked: {
        size_t n = 0;
        const auto s = chunk_.feed(rest, n);
        out.append(rest.substr(0, n));
        used += n;
        if (s == ChunkedFramer::error) {
          reason_ = "malformed chunked body from the upstream";
          return error;
        }
        if (s == ChunkedFramer::done) {
          state_ = State::idle;
          return done;
        }
        break;
      }
      case State::close:
        out.append(rest);
        used = in.size();
        break;
    }
  }
  return more;
}

ResponseFramer::Status ResponseFramer::eof() {
  switch (state_) {
    case State::idle: return done;
    case State::close:
      state_ = State::idle;
      return done;
    case State::head:
      reason_ = head_.empty() && !started_ ? "the upstream closed the connection without a response"
                                           : "the upstream closed the connection inside a response head";
      return error;
    default:
      reason_ = "the upstream closed the connection before the response body ended";
      return error;
  }
}

ChunkedFramer::Status ChunkedFramer::feed(std::string_view d, size_t& used) {
  size_t i = 0;
  while (i < d.size()) {
    const unsigned char c = static_cast<unsigned char>(d[i]);
    switch (state_) {
      case size: {
        int v = -1;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        if (v >= 0) {
          if (++digits_ > 15) return used = i, error;
          remaining_ = remaining_ * 16 + static_cast<unsigned>(v);
        } else if (digits_ && c == ';') {
          state_ = ext;
          line_ = 0;
        } else if (digits_ && c == '\r') {
          state_ = size_lf;
        } else {
          return used = i, error;
        }
        ++i;
        break;
      }
      case ext:
        if (c == '\r') state_ = size_lf;
        else if ((c < 0x20 && c != '\t') || c == 0x7f || ++line_ > 4096) return used = i, error;
        ++i;
        break;
      case size_lf:
        if (c != '\n') return used = i, error;
        digits_ = 0;
        state_ = remaining_ == 0 ? trailer_start : data;
        ++i;
        break;
      case data: {
        const size_t take = static_cast<size_t>(std::min<std::uint64_t>(remaining_, d.size() - i));
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = data_cr;
        break;
      }
      case data_cr:
        if (c != '\r') return used = i, error;
        state_ = data_lf;
        ++i;
        break;
      case data_lf:
        if (c != '\n') return used = i, error;
        state_ = size;
        ++i;
        break;
      case trailer_start:
        if (c == '\r') state_ = final_lf;
        else if (c == ' ' || c == '\t' || !is_tchar(c)) return used = i, error;
        else state_ = trailer_line;
        ++i;
        if (++trailer_bytes_ > 8192) return used = i, error;
        break;
      case trailer_line:
        if (c == '\r') state_ = trailer_lf;
        else if (!is_value_char(c) && c != ':') return used = i, error;
        ++i;
        if (++trailer_bytes_ > 8192) return used = i, error;
        break;
      case trailer_lf:
        if (c != '\n') return used = i, error;
        state_ = trailer_start;
        ++i;
        break;
      case final_lf:
        if (c != '\n') return used = i, error;
        used = i + 1;
        return done;
    }
  }
  used = i;
  return more;
}

}  // namespace sbx::proxy
