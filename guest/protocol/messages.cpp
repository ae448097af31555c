#include "guest/protocol/messages.h"

#include <nlohmann/json.hpp>

#include "guest/protocol/user.h"

namespace sbx::guest::protocol {
namespace {

using json = nlohmann::json;

// Parse without exceptions; only objects are accepted at the top level.
Result<json> parse_object(std::string_view payload, std::string_view what) {
  if (payload.size() > kMaxPayload) return fail(ErrorCode::invalid, std::string(what) + " payload too large");
  json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (j.is_discarded()) return fail(ErrorCode::invalid, std::string(what) + " payload is not valid JSON");
  if (!j.is_object()) return fail(ErrorCode::invalid, std::string(what) + " payload must be a JSON object");
  return j;
}

std::string check_keys(const json& j, std::initializer_list<std::string_view> allowed, std::string_view what) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (auto a : allowed) ok = ok || it.key() == a;
    if (!ok) return std::string(what) + ": unknown key \"" + it.key().substr(0, 64) + "\"";
  }
  return {};
}

bool clean_string(const std::string& s) { return s.size() <= kMaxString && s.find('\0') == std::string::npos; }

Result<std::string> get_string(const json& v, std::string_view key) {
  if (!v.is_string()) return fail(ErrorCode::invalid, std::string(key) + " must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (!clean_string(s)) return fail(ErrorCode::invalid, std::string(key) + " is too long or contains NUL");
  return s;
}

Result<bool> get_bool(const json& v, std::string_view key) {
  if (!v.is_boolean()) return fail(ErrorCode::invalid, std::string(key) + " must be true or false");
  return v.get<bool>();
}

Result<std::int64_t> get_int(const json& v, std::string_view key, std::int64_t lo, std::int64_t hi) {
  if (!v.is_number_integer()) return fail(ErrorCode::invalid, std::string(key) + " must be an integer");
  std::int64_t n = v.is_number_unsigned() ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                                v.get<std::uint64_t>(), static_cast<std::uint64_t>(INT64_MAX)))
                                          : v.get<std::int64_t>();
  if (n < lo || n > hi)
    return fail(ErrorCode::invalid, std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return n;
}

Result<std::map<std::string, std::string>> get_env(const json& v, std::string_view key) {
  if (!v.is_object()) return fail(ErrorCode::invalid, std::string(key) + " must be an object of strings");
  if (v.size() > kMaxEnv) return fail(ErrorCode::invalid, std::string(key) + " has too many entries");
  std::map<std::string, std::string> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (k.empty() || k.find('=') != std::string::npos || !clean_string(k))
      return fail(ErrorCode::invalid, std::string(key) + " has an invalid variable name");
    out[k] = SBX_TRY(get_string(it.value(), std::string(key) + "." + k.substr(0, 64)));
  }
  return out;
}


// A mount.local entry: relative, no empty, '.' or '..' component, no control byte (the guest
// builds paths under the share's target from it).
bool valid_local_path(std::string_view p) {
  if (p.empty() || p.size() > 1024 || p.front() == '/' || p.back() == '/') return false;
  for (unsigned char c : p)
    if (c < 0x20 || c == 0x7f) return false;
  for (size_t at = 0; at <= p.size();) {
    size_t slash = p.find('/', at);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view part = p.substr(at, slash - at);
    if (part.empty() || part == "." || part == ".." || part.size() > 255) return false;
    at = slash + 1;
  }
  return true;
}

}  // namespace

std::string_view kind_name(OpenKind k) {
  switch (k) {
    case OpenKind::exec: return "exec";
    case OpenKind::shell: return "shell";
    case OpenKind::proxy: return "proxy";
    case OpenKind::log: return "log";
    case OpenKind::port: return "port";
  }
  return "exec";
}

std::string to_json(const Hello& m) {
  json j = {{"protocol", m.protocol},
            {"agent", m.agent},
            {"kernel", m.kernel},
            {"reconnect", m.reconnect},
            {"boot",
             {{"uptime_ms", m.boot.uptime_ms},
              {"init_ms", m.boot.init_ms},
              {"modules_ms", m.boot.modules_ms},
              {"rootfs_ms", m.boot.rootfs_ms}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Hello> parse_hello(std::string_view payload) {
  auto j = SBX_TRY(parse_object(payload, "HELLO"));
  if (auto e = check_keys(j, {"protocol", "agent", "kernel", "reconnect", "boot"}, "HELLO"); !e.empty())
    return fail(ErrorCode::invalid, e);
  Hello h;
  if (!j.contains("protocol")) return fail(ErrorCode::invalid, std::string("HELLO: protocol is required"));
  auto proto = SBX_TRY(get_int(j["protocol"], "protocol", 0, 1 << 20));
  h.protocol = static_cast<int>(proto);
  if (j.contains("agent")) {
    auto a = SBX_TRY(get_string(j["agent"], "agent"));
    h.agent = a;
  }
  if (j.contains("kernel")) {
    auto k = SBX_TRY(get_string(j["kernel"], "kernel"));
    h.kernel = k;
  }
  if (j.contains("reconnect")) {
    auto r = SBX_TRY(get_bool(j["reconnect"], "reconnect"));
    h.reconnect = r;
  }
  if (j.contains("boot")) {
    const json& b = j["boot"];
    if (!b.is_object()) return fail(ErrorCode::invalid, std::string("HELLO: boot must be an object"));
    if (auto e = check_keys(b, {"uptime_ms", "init_ms", "modules_ms", "rootfs_ms"}, "HELLO.boot"); !e.empty())
      return fail(ErrorCode::invalid, e);
    std::int64_t* fields[] = {&h.boot.uptime_ms, &h.boot.init_ms, &h.boot.modules_ms, &h.boot.rootfs_ms};
    const char* names[] = {"uptime_ms", "init_ms", "modules_ms", "rootfs_ms"};
    for (int i = 0; i < 4; ++i) {
      if (!b.contains(names[i])) continue;
      auto v = SBX_TRY(get_int(b[names[i]], names[i], 0, INT64_C(1) << 40));
      *fields[i] = v;
    }
  }
  return h;
}

std::string to_json(const Config& m) {
  json j = json::object();
  if (m.hostname) j["hostname"] = *m.hostname;
  if (!m.env.empty()) j["env"] = m.env;
  if (!m.mounts.empty()) {
    json arr = json::array();
    for (const auto& mt : m.mounts) {
      json one = {{"tag", mt.tag}, {"target", mt.target}, {"readonly", mt.readonly}};
      if (!mt.local.empty()) one["local"] = mt.local;
      arr.push_back(std::move(one));
    }
    j["mounts"] = arr;
  }
  j["proxy"] = m.proxy;
  if (m.ca_certificate) j["ca_certificate"] = *m.ca_certificate;
  if (m.user) j["user"] = *m.user;
  if (m.workdir) j["workdir"] = *m.workdir;
  if (m.docker) j["docker"] = true;  // only when on: CONFIGs (and launch digests) without it stay
  if (!m.docker_insecure_registries.empty()) j["docker_insecure_registries"] = m.docker_insecure_registries;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Config> parse_config(std::string_view payload) {
  auto j = SBX_TRY(parse_object(payload, "CONFIG"));
  if (auto e = check_keys(j, {"hostname", "env", "mounts", "proxy", "ca_certificate", "user", "workdir", "docker", "docker_insecure_registries"}, "CONFIG"); !e.empty()) return fail(ErrorCode::invalid, e);
  Config c;
  if (j.contains("hostname")) {
    auto h = SBX_TRY(get_string(j["hostname"], "hostname"));
    if (h.empty() || h.size() > 64) return fail(ErrorCode::invalid, std::string("hostname must be 1..64 characters"));
    for (char ch : h)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.'))
        return fail(ErrorCode::invalid, std::string("hostname may hold only letters, digits, '-' and '.'"));
    c.hostname = h;
  }
  if (j.contains("env")) {
    auto env = SBX_TRY(get_env(j["env"], "env"));
    c.env = std::move(env);
  }
  if (j.contains("mounts")) {
    const json& ms = j["mounts"];
    if (!ms.is_array() || ms.size() > kMaxMounts)
      return fail(ErrorCode::invalid, std::string("mounts must be an array of at most 64 objects"));
    for (const auto& m : ms) {
      if (!m.is_object()) return fail(ErrorCode::invalid, std::string("each mount must be an object"));
      if (auto e = check_keys(m, {"tag", "target", "readonly", "local"}, "mount"); !e.empty()) return fail(ErrorCode::invalid, e);
      if (!m.contains("tag") || !m.contains("target"))
        return fail(ErrorCode::invalid, std::string("each mount needs tag and target"));
      MountSpec spec;
      auto tag = SBX_TRY(get_string(m["tag"], "mount.tag"));
      auto target = SBX_TRY(get_string(m["target"], "mount.target"));
      if (tag.empty() || tag.size() > 36) return fail(ErrorCode::invalid, std::string("mount.tag must be 1..36 bytes"));
      if (target.empty() || target[0] != '/' || target.find("..") != std::string::npos || target.size() > 4096)
        return fail(ErrorCode::invalid, std::string("mount.target must be an absolute path without '..'"));
      spec.tag = tag;
      spec.target = target;
      if (m.contains("readonly")) {
        auto ro = SBX_TRY(get_bool(m["readonly"], "mount.readonly"));
        spec.readonly = ro;
      }
      if (m.contains("local")) {
        const json& ls = m["local"];
        if (!ls.is_array() || ls.size() > 16) return fail(ErrorCode::invalid, std::string("mount.local must be an array of at most 16 paths"));
        for (const auto& l : ls) {
          auto path = SBX_TRY(get_string(l, "mount.local[]"));
          if (!valid_local_path(path))
            return fail(ErrorCode::invalid, std::string("mount.local entries must be relative paths of 1..1024 bytes without '.' or '..' components"));
          spec.local.push_back(path);
        }
      }
      c.mounts.push_back(std::move(spec));
    }
  }
  if (j.contains("proxy")) {
    auto p = SBX_TRY(get_bool(j["proxy"], "proxy"));
    c.proxy = p;
  }
  if (j.contains("ca_certificate")) {
    auto pem = SBX_TRY(get_string(j["ca_certificate"], "ca_certificate"));
    if (!pem.starts_with("-----BEGIN CERTIFICATE-----"))
      return fail(ErrorCode::invalid, std::string("ca_certificate must be a PEM certificate"));
    c.ca_certificate = pem;
  }
  if (j.contains("user")) {
    auto user = SBX_TRY(get_string(j["user"], "user"));
    if (!valid_user_spec(user)) return fail(ErrorCode::invalid, std::string("user is not a valid user name"));
    c.user = user;
  }
  if (j.contains("workdir")) {
    auto dir = SBX_TRY(get_string(j["workdir"], "workdir"));
    if (dir.empty() || dir[0] != '/' || dir.size() > 4096)
      return fail(ErrorCode::invalid, std::string("workdir must be an absolute path"));
    c.workdir = dir;
  }
  if (j.contains("docker")) c.docker = SBX_TRY(get_bool(j["docker"], "docker"));
  if (j.contains("docker_insecure_registries")) {
    const json& rs = j["docker_insecure_registries"];
    if (!rs.is_array() || rs.size() > 16) return fail(ErrorCode::invalid, std::string("docker_insecure_registries must be an array of at most 16 strings"));
    for (const auto& r : rs) {
      auto s = SBX_TRY(get_string(r, "docker_insecure_registries[]"));
      // Written into daemon.json by the guest: a host name and port only, nothing to escape.
      if (s.empty() || s.size() > 260 || s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789.-:") != std::string::npos)
        return fail(ErrorCode::invalid, std::string("docker_insecure_registries entries must be host[:port]"));
      c.docker_insecure_registries.push_back(s);
    }
  }
  return c;
}

std::string to_json(const Ready& m) {
  // Bounded so the frame always fits kMaxPayload, whatever the errors say.
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < m.errors.size() && i < 16; ++i) errors.push_back(m.errors[i].substr(0, 512));
  json j = {{"ok", m.ok}, {"errors", errors}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Ready> parse_ready(std::string_view payload) {
  auto j = SBX_TRY(parse_object(payload, "READY"));
  if (auto e = check_keys(j, {"ok", "errors"}, "READY"); !e.empty()) return fail(ErrorCode::invalid, e);
  Ready r;
  if (j.contains("ok")) {
    auto ok = SBX_TRY(get_bool(j["ok"], "ok"));
    r.ok = ok;
  }
  if (j.contains("errors")) {
    if (!j["errors"].is_array()) return fail(ErrorCode::invalid, std::string("READY: errors must be an array"));
    for (const auto& e : j["errors"]) {
      auto s = SBX_TRY(get_string(e, "errors[]"));
      r.errors.push_back(s);
    }
  }
  return r;
}

std::string to_json(const Open& m) {
  json j = {{"kind", kind_name(m.kind)}};
  switch (m.kind) {
    case OpenKind::exec:
    case OpenKind::shell:
      if (!m.argv.empty() || m.kind == OpenKind::exec) j["argv"] = m.argv;
      if (!m.env.empty()) j["env"] = m.env;
      if (m.cwd) j["cwd"] = *m.cwd;
      if (!m.user.empty()) j["user"] = m.user;
      if (m.kind == OpenKind::exec) j["tty"] = m.tty;
      j["rows"] = m.rows;
      j["cols"] = m.cols;
      if (m.term) j["term"] = *m.term;
      break;
    case OpenKind::proxy: {
      json d = {{"learned", m.destination.learned}};
      d["host"] = m.destination.host ? json(*m.destination.host) : json(nullptr);
      d["port"] = m.destination.port ? json(*m.destination.port) : json(nullptr);
      j["destination"] = d;
      j["client"] = m.client;
      break;
    }
    case OpenKind::log:
      j["name"] = m.name;
      break;
    case OpenKind::port:
      j["port"] = m.guest_port;
      break;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Open> parse_open(std::string_view payload) {
  auto j = SBX_TRY(parse_object(payload, "OPEN"));
  if (!j.contains("kind")) return fail(ErrorCode::invalid, std::string("OPEN: kind is required"));
  auto kind = SBX_TRY(get_string(j["kind"], "kind"));
  Open o;
  if (kind == "exec" || kind == "shell") {
    o.kind = kind == "exec" ? OpenKind::exec : OpenKind::shell;
    if (auto e = check_keys(j, {"kind", "argv", "env", "cwd", "user", "tty", "rows", "cols", "term"}, "OPEN");
        !e.empty())
      return fail(ErrorCode::invalid, e);
    if (j.contains("argv")) {
      const json& a = j["argv"];
      if (!a.is_array()) return fail(ErrorCode::invalid, std::string("argv must be an array of strings"));
      if (a.size() > kMaxArgs) return fail(ErrorCode::invalid, std::string("argv has too many entries"));
      for (const auto& s : a) {
        auto arg = SBX_TRY(get_string(s, "argv[]"));
        o.argv.push_back(arg);
      }
    }
    if (o.kind == OpenKind::exec && o.argv.empty())
      return fail(ErrorCode::invalid, std::string("exec needs a non-empty argv"));
    if (!o.argv.empty() && o.argv[0].empty()) return fail(ErrorCode::invalid, std::string("argv[0] must not be empty"));
    if (j.contains("env")) {
      auto env = SBX_TRY(get_env(j["env"], "env"));
      o.env = std::move(env);
    }
    if (j.contains("cwd")) {
      auto cwd = SBX_TRY(get_string(j["cwd"], "cwd"));
      if (cwd.empty() || cwd[0] != '/') return fail(ErrorCode::invalid, std::string("cwd must be an absolute path"));
      o.cwd = cwd;
    }
    if (j.contains("user")) {
      auto user = SBX_TRY(get_string(j["user"], "user"));
      if (!valid_user_spec(user)) return fail(ErrorCode::invalid, std::string("user is not a valid user name"));
      o.user = user;
    }
    if (j.contains("tty")) {
      auto tty = SBX_TRY(get_bool(j["tty"], "tty"));
      o.tty = tty;
    }
    if (o.kind == OpenKind::shell) o.tty = true;
    if (j.contains("rows")) {
      auto rows = SBX_TRY(get_int(j["rows"], "rows", 1, 65535));
      o.rows = static_cast<std::uint16_t>(rows);
    }
    if (j.contains("cols")) {
      auto cols = SBX_TRY(get_int(j["cols"], "cols", 1, 65535));
      o.cols = static_cast<std::uint16_t>(cols);
    }
    if (j.contains("term")) {
      auto term = SBX_TRY(get_string(j["term"], "term"));
      if (term.size() > 64) return fail(ErrorCode::invalid, std::string("term is too long"));
      o.term = term;
    }
    return o;
  }
  if (kind == "proxy") {
    o.kind = OpenKind::proxy;
    if (auto e = check_keys(j, {"kind", "destination", "client"}, "OPEN"); !e.empty()) return fail(ErrorCode::invalid, e);
    if (!j.contains("destination") || !j["destination"].is_object())
      return fail(ErrorCode::invalid, std::string("proxy OPEN needs a destination object"));
    const json& d = j["destination"];
    if (auto e = check_keys(d, {"host", "port", "learned"}, "destination"); !e.empty()) return fail(ErrorCode::invalid, e);
    if (!d.contains("learned")) return fail(ErrorCode::invalid, std::string("destination.learned is required"));
    auto learned = SBX_TRY(get_string(d["learned"], "destination.learned"));
    if (learned != "http-proxy" && learned != "redirect" && learned != "dns")
      return fail(ErrorCode::invalid, std::string("destination.learned must be http-proxy, redirect or dns"));
    o.destination.learned = learned;
    if (d.contains("host") && !d["host"].is_null()) {
      auto host = SBX_TRY(get_string(d["host"], "destination.host"));
      if (host.empty() || host.size() > 253) return fail(ErrorCode::invalid, std::string("destination.host must be 1..253 bytes"));
      o.destination.host = host;
    }
    if (d.contains("port") && !d["port"].is_null()) {
      auto port = SBX_TRY(get_int(d["port"], "destination.port", 1, 65535));
      o.destination.port = static_cast<std::uint16_t>(port);
    }
    if (learned != "http-proxy" && (!o.destination.host || !o.destination.port))
      return fail(ErrorCode::invalid, std::string("destination needs host and port unless learned is http-proxy"));
    if (j.contains("client")) {
      auto client = SBX_TRY(get_string(j["client"], "client"));
      if (client.size() > 64) return fail(ErrorCode::invalid, std::string("client is too long"));
      o.client = client;
    }
    return o;
  }
  if (kind == "log") {
    o.kind = OpenKind::log;
    if (auto e = check_keys(j, {"kind", "name"}, "OPEN"); !e.empty()) return fail(ErrorCode::invalid, e);
    if (j.contains("name")) {
      auto name = SBX_TRY(get_string(j["name"], "name"));
      if (name.size() > 128) return fail(ErrorCode::invalid, std::string("log name is too long"));
      o.name = name;
    }
    return o;
  }
  if (kind == "port") {
    // A forwarded host connection: only a port, always on the guest's loopback (no address to aim elsewhere).
    o.kind = OpenKind::port;
    if (auto e = check_keys(j, {"kind", "port"}, "OPEN"); !e.empty()) return fail(ErrorCode::invalid, e);
    if (!j.contains("port")) return fail(ErrorCode::invalid, std::string("port OPEN needs a port"));
    auto port = SBX_TRY(get_int(j["port"], "port", 1, 65535));
    o.guest_port = static_cast<std::uint16_t>(port);
    return o;
  }
  return fail(ErrorCode::invalid, "OPEN: unknown kind \"" + kind.substr(0, 32) + "\" (expected exec, shell, proxy, log or port)");
}

std::string to_json(const OpenOk& m) {
  json j = json::object();
  if (m.pid) j["pid"] = *m.pid;
  return j.dump();
}

Result<OpenOk> parse_open_ok(std::string_view payload) {
  auto j = SBX_TRY(parse_object(payload, "OPEN_OK"));
  if (auto e = check_keys(j, {"pid"}, "OPEN_OK"); !e.empty()) return fail(ErrorCode::invalid, e);
  OpenOk ok;
  if (j.contains("pid")) {
    auto pid = SBX_TRY(get_int(j["pid"], "pid", 1, INT32_MAX));
    ok.pid = pid;
  }
  return ok;
}

std::string to_json(const OpenFail& m) {
  json j = {{"reason", m.reason.substr(0, 1024)}};
  if (m.err) j["errno"] = *m.err;
  if (m.retry) j["retry"] = true;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<OpenFail> parse_open_fail(std::string_view payload) {
  auto j = SBX_TRY(parse_object(payload, "OPEN_FAIL"));
  if (auto e = check_keys(j, {"reason", "errno", "retry"}, "OPEN_FAIL"); !e.empty()) return fail(ErrorCode::invalid, e);
  OpenFail f;
  if (!j.contains("reason")) return fail(ErrorCode::invalid, std::string("OPEN_FAIL: reason is required"));
  auto reason = SBX_TRY(get_string(j["reason"], "reason"));
  f.reason = reason;
  if (j.contains("errno")) {
    auto e = SBX_TRY(get_int(j["errno"], "errno", 0, 4095));
    f.err = static_cast<int>(e);
  }
  if (j.contains("retry")) {
    if (!j["retry"].is_boolean()) return fail(ErrorCode::invalid, std::string("OPEN_FAIL: retry must be a boolean"));
    f.retry = j["retry"].get<bool>();
  }
  return f;
}

std::string error_json(std::string_view message) {
  json j = {{"message", std::string(message.substr(0, 4096))}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string parse_error_message(std::string_view payload) {
  json j = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  return std::string(payload.substr(0, 4096));
}

Frame hello_frame(const Hello& m) { return Frame{FrameType::hello, 0, 0, to_json(m)}; }
Frame config_frame(const Config& m) { return Frame{FrameType::config, 0, 0, to_json(m)}; }
Frame ready_frame(const Ready& m) { return Frame{FrameType::ready, 0, 0, to_json(m)}; }
Frame open_frame(std::uint32_t stream, const Open& m) { return Frame{FrameType::open, 0, stream, to_json(m)}; }
Frame open_ok_frame(std::uint32_t stream, const OpenOk& m) { return Frame{FrameType::open_ok, 0, stream, to_json(m)}; }
Frame open_fail_frame(std::uint32_t stream, const OpenFail& m) {
  return Frame{FrameType::open_fail, 0, stream, to_json(m)};
}
Frame error_frame(std::string_view message) { return Frame{FrameType::error, 0, 0, error_json(message)}; }
Frame shutdown_frame(bool reboot) {
  return Frame{FrameType::shutdown, 0, 0, reboot ? std::string(R"({"reboot":true})") : std::string()};
}

}  // namespace sbx::guest::protocol
