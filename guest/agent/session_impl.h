#pragma once
// Internal to guest/agent: what a Session holds, and its pieces, one file each:
//   session.cpp         the channel: HELLO, CONFIG, frame dispatch, the poll loop
//   streams.cpp         exec and proxy streams: fds, windows, EOF, EXIT, CLOSE
//   proxy_listener.cpp  clients of 127.0.0.1:3128 becoming proxy streams
//   port_streams.cpp    host-opened port streams: a connection to 127.0.0.1:PORT in the guest
//   pid1.cpp            reaping, signals, ending the machine (free functions; glue here)
#include <cstddef>
#include <cstdint>
#include <map>
#include <poll.h>
#include <set>
#include <string>
#include <sys/types.h>
#include <vector>

#include "guest/agent/docker.h"
#include "guest/agent/session.h"
#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"

namespace sbx::guest::agent {

/// Most streams open at once (exec and proxy together).
inline constexpr std::size_t kMaxStreams = 1024;

/// One stream: an exec'd process (pipes or a PTY) or a proxy client socket.
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
  bool connecting = false;          // port: the connect to 127.0.0.1:guest_port has not finished
  std::uint16_t guest_port = 0;     // port: where it connects
  bool sent_eof = false;
  bool sent_close = false;
};

/// What one entry of the loop's poll set stands for.
enum class PollRole {
  signals,         // the signalfd
  port,            // the channel's virtio-serial port
  proxy_listener,  // 127.0.0.1:3128, or the docker bridge's address for containers
  docker_log,      // dockerd's stdout and stderr
  stream_in,       // a stream's input fd, polled for room to write host data
  stream_out,      // a stream's output fd (sub-channel `channel`), polled for data
  connecting,      // a port stream's socket, polled for its connect to finish
};

/// Streams whose fds are one socket (shutdown for EOF, send/recv): proxy and port.
inline bool is_socket_stream(protocol::OpenKind k) { return k == protocol::OpenKind::proxy || k == protocol::OpenKind::port; }

/// The poll set of one loop turn: pollfds and, index for index, what each stands for.
struct PollSet {
  struct Target {
    PollRole role;
    std::uint32_t stream = 0;
    int channel = 0;  // stream_out: 0 main, 1 stderr
  };
  std::vector<pollfd> fds;
  std::vector<Target> targets;

  void add(int fd, short events, Target t) {
    fds.push_back({fd, events, 0});
    targets.push_back(t);
  }
};

struct Session::Impl {
  Impl(std::string port_path, protocol::BootTiming timing, int signal_fd);

  // session.cpp: the channel.
  [[noreturn]] void run();
  [[noreturn]] void loop();
  void on_connected();
  void start_session();
  void on_disconnected();
  void read_port();
  void flush_port(bool block = false);
  void send(const protocol::Frame& f);
  void protocol_error(const std::string& why);
  void handle(protocol::Frame f);
  void handle_config(const protocol::Frame& f);
  std::map<std::string, std::string> base_env() const;
  void handle_signal();
  [[noreturn]] void shutdown(bool reboot);

  // streams.cpp: the streams.
  void handle_open(const protocol::Frame& f);
  void handle_stream_frame(Stream& s, const protocol::Frame& f);
  void handle_data(Stream& s, const protocol::Frame& f);
  void handle_close(std::uint32_t id);
  void read_out(std::uint32_t id, int channel);
  void write_in(std::uint32_t id);
  void close_in(Stream& s);
  void maybe_finish(Stream& s);
  void on_child_exit(pid_t pid, int status);
  void tick();
  void abort_all();
  void destroy(Stream& s);
  /// Adds every stream fd that has work to `set`; true when a stream is draining after its exit.
  bool poll_streams(PollSet& set) const;

  // proxy_listener.cpp: a new client becomes a proxy stream.
  void accept_proxy(int listener);
  // port_streams.cpp: a host-opened port stream connects to 127.0.0.1:port.
  void open_port(std::uint32_t id, std::uint16_t port);
  void finish_connect(std::uint32_t id);

  std::string port_path_;
  int port_ = -1;
  int listener_ = -1;
  int bridge_listener_ = -1;  // [docker]: kDockerBridgeAddress:3128, the containers' proxy
  DockerDaemon docker_;
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
