#pragma once
// The guest end of the channel: one poll() loop over the port, the proxy listener, the
// signalfd and every stream's fds. Speaks first (HELLO) on every host connection.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <sys/types.h>

#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"

namespace sbx::guest::agent {

/// Runs the channel forever as PID 1.
class Session {
 public:
  Session(std::string port_path, protocol::BootTiming timing, int signal_fd);
  [[noreturn]] void run();

 private:
  struct Stream {
    std::uint32_t id = 0;
    protocol::OpenKind kind = protocol::OpenKind::exec;
    int in_fd = -1;                   // host data goes here
    int out_fd[2] = {-1, -1};         // data for the host comes from here (main, stderr)
    bool shared = false;              // in_fd == out_fd[0] (PTY master or socket)
    bool tty = false;
    pid_t pid = -1;
    bool exited = false;
    int exit_code = 0;
    std::uint32_t exit_signal = 0;
    std::int64_t exit_at = 0;
    std::uint32_t send_window = protocol::kInitialWindow;
    std::uint32_t recv_window = protocol::kInitialWindow;
    std::string in_buf;
    bool host_eof = false;
    bool in_closed = false;
    bool out_eof[2] = {true, true};
    bool open_pending = false;
    bool sent_eof = false;
    bool sent_close = false;
  };

  [[noreturn]] void loop();
  void on_connected();
  void start_session();
  void on_disconnected();
  void read_port();
  void flush_port(bool block_ms = false);
  void send(const protocol::Frame& f);
  void protocol_error(const std::string& why);
  void handle(protocol::Frame f);
  void handle_config(const protocol::Frame& f);
  void handle_open(const protocol::Frame& f);
  void handle_data(Stream& s, const protocol::Frame& f);
  void handle_close(std::uint32_t id);
  void accept_proxy();
  void read_out(std::uint32_t id, int channel);
  void write_in(std::uint32_t id);
  void close_in(Stream& s);
  void maybe_finish(Stream& s);
  void tick();
  void reap();
  void abort_all();
  void destroy(Stream& s);
  void handle_signal();
  [[noreturn]] void shutdown(bool reboot);
  std::map<std::string, std::string> base_env() const;

  std::string port_path_;
  int port_ = -1;
  int listener_ = -1;
  int signal_fd_ = -1;
  bool connected_ = false;
  bool poisoned_ = false;
  bool fresh_ = false;   // nothing received since our HELLO
  std::string scan_;     // tail of discarded input, searched for a host HELLO
  int sessions_ = 0;
  protocol::BootTiming timing_;
  protocol::Decoder decoder_;
  std::string out_buf_;
  std::map<std::uint32_t, Stream> streams_;
  std::uint32_t next_guest_id_ = 2;
  protocol::Config config_;
  std::set<std::string> mounted_;
  bool ca_trusted_ = false;  // CONFIG's CA is installed: execs get the CA bundle variables
};

}  // namespace sbx::guest::agent
