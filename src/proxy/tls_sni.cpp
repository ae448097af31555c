#include "proxy/tls_sni.h"

#include <cstdint>

namespace sbx::proxy {
namespace {

constexpr size_t kMaxHandshake = 16 * 1024;

struct Reader {
  std::string_view d;
  size_t p = 0;
  bool ok = true;
  size_t left() const { return d.size() - p; }
  unsigned u8() {
    if (left() < 1) return ok = false, 0;
    return static_cast<unsigned char>(d[p++]);
  }
  unsigned u16() { return (u8() << 8) | u8(); }
  unsigned u24() { return (u8() << 16) | (u8() << 8) | u8(); }
  std::string_view take(size_t n) {
    if (left() < n) return ok = false, std::string_view{};
    auto s = d.substr(p, n);
    p += n;
    return s;
  }
};

}  // namespace

HelloStatus peek_client_hello(std::string_view data, std::string& name) {
  if (data.empty()) return HelloStatus::need_more;
  if (static_cast<unsigned char>(data[0]) != 0x16) return HelloStatus::not_tls;
  // Reassemble the handshake message from consecutive handshake records.
  std::string hs;
  size_t p = 0;
  size_t need = 0;  // full handshake length once known
  while (true) {
    if (data.size() - p < 5) return HelloStatus::need_more;
    const auto* r = reinterpret_cast<const unsigned char*>(data.data() + p);
    if (r[0] != 0x16) return HelloStatus::malformed;
    if (r[1] != 3) return HelloStatus::malformed;
    const size_t len = (static_cast<size_t>(r[3]) << 8) | r[4];
    if (len == 0 || len > 16384 + 2048) return HelloStatus::malformed;
    if (data.size() - p - 5 < len) return HelloStatus::need_more;
    hs.append(data.substr(p + 5, len));
    p += 5 + len;
    if (hs.size() >= 4 && need == 0) {
      if (static_cast<unsigned char>(hs[0]) != 1) return HelloStatus::malformed;  // not a ClientHello
      need = 4 + ((static_cast<size_t>(static_cast<unsigned char>(hs[1])) << 16) |
                  (static_cast<size_t>(static_cast<unsigned char>(hs[2])) << 8) | static_cast<unsigned char>(hs[3]));
      if (need > kMaxHandshake) return HelloStatus::malformed;
    }
    if (need && hs.size() >= need) break;
    if (hs.size() > kMaxHandshake) return HelloStatus::malformed;
  }
  Reader rd{std::string_view(hs).substr(4, need - 4)};
  rd.u16();        // legacy version
  rd.take(32);     // random
  rd.take(rd.u8());   // session id
  rd.take(rd.u16());  // cipher suites
  rd.take(rd.u8());   // compression methods
  if (!rd.ok) return HelloStatus::malformed;
  if (rd.left() == 0) return HelloStatus::no_sni;
  Reader ext{rd.take(rd.u16())};
  if (!rd.ok) return HelloStatus::malformed;
  bool seen = false;
  while (ext.left() > 0) {
    const unsigned type = ext.u16();
    Reader body{ext.take(ext.u16())};
    if (!ext.ok) return HelloStatus::malformed;
    if (type != 0) continue;
    if (seen) return HelloStatus::malformed;  // two server_name extensions
    seen = true;
    Reader list{body.take(body.u16())};
    if (!body.ok) return HelloStatus::malformed;
    int names = 0;
    while (list.left() > 0) {
      const unsigned kind = list.u8();
      auto n = list.take(list.u16());
      if (!list.ok) return HelloStatus::malformed;
      if (kind != 0) continue;
      if (++names > 1 || n.empty() || n.size() > 255) return HelloStatus::malformed;
      name.clear();
      for (char c : n) {
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) return HelloStatus::malformed;
        name += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
      }
    }
  }
  return seen && !name.empty() ? HelloStatus::sni : HelloStatus::no_sni;
}

}  // namespace sbx::proxy
