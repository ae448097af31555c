#pragma once
// The Supervisor class behind run_supervisor() (supervisor.h), one per sandbox process. Its
// members are defined in three files: supervisor.cpp (lifecycle and the poll loop),
// guest_frames.cpp (what the guest sends on the channel) and client_frames.cpp (what clients of
// the control socket send). Internal to src/supervisor.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "guest/protocol/frame.h"
#include "guest/protocol/messages.h"
#include "supervisor/bridge.h"
#include "supervisor/budget.h"
#include "supervisor/docker_watch.h"
#include "supervisor/egress_keeper.h"
#include "supervisor/launch.h"
#include "supervisor/port_forward.h"
#include "supervisor/state.h"
#include "supervisor/stream_router.h"
#include "vmm/vmm.h"
#include "vmm/unix_socket.h"

namespace sbx::supervisor {

namespace proto = sbx::guest::protocol;
using proto::Frame;
using proto::FrameType;

/// A client of the control socket (`sbx exec`, `shell`, `up`, `down`).
struct ClientConn {
  Fd fd;
  proto::Decoder decoder;
  std::string out;
  std::optional<std::string> waiting_ready;  // PING payload to answer once READY
  bool wants_stop = false;
  bool dead = false;
};

/// Send what `fd` takes now and keep the rest in `out`; false when the peer is gone.
bool flush(int fd, std::string& out);

/// One sandbox's supervisor.
class Supervisor {
 public:
  /// Run the sandbox `launch` describes, with its state in `paths`.
  Supervisor(Launch launch, SandboxPaths paths) : launch_(std::move(launch)), paths_(std::move(paths)) {}
  /// Boot, serve until the sandbox stops, record the end; returns the process exit code.
  int run();

 private:
  Result<void> start();
  void loop();
  void on_guest_frame(Frame f);
  void on_client_frame(int id, Frame f);
  void on_client_gone(int id);
  void accept_clients();
  void send_guest(const Frame& f) { proto::encode_to(chan_out_, f); }
  void send_client(int id, const Frame& f);
  void begin_stop(const char* why);
  void finish(Phase phase, std::string error);
  void write_state_now();
  void open_proxy_stream(std::uint32_t stream, const proto::Open& open);
  void send_config();
  void answer_egress_waiters(const std::vector<int>& clients, const std::string& error);
  void refuse_guest_open(std::uint32_t stream, std::uint64_t& refused, const std::string& reason, bool retry = false);
  bool guest_stream_id_free(std::uint32_t stream) const;
  void on_guest_log_frame(StreamRouter::Map::iterator it, const Frame& f);
  void read_console();
  BudgetReport budget_report() const;

  Launch launch_;
  SandboxPaths paths_;
  SandboxState state_;
  std::shared_ptr<spdlog::logger> log_ = sbx::log::get("supervisor");
  std::unique_ptr<vmm::Vmm> vmm_;
  Fd listen_, chan_, sigfd_;
  proto::Decoder chan_decoder_;
  std::string chan_out_;
  std::map<int, ClientConn> conns_;
  int next_conn_ = 1;
  StreamRouter router_;                     // which client owns which guest stream
  bool hello_ = false, ready_ = false, stopping_ = false, done_ = false;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now(), stop_at_{};
  bool powerdown_sent_ = false;
  int exit_code_ = 0;
  EgressKeeper egress_{launch_, paths_, state_, log_,
                       {[this](const std::vector<int>& ids, const std::string& e) { answer_egress_waiters(ids, e); },
                        [this] {
                          if (config_pending_) send_config();
                        },
                        [this] { write_state_now(); }}};
  std::map<std::uint32_t, StreamBridge> bridges_;  // guest proxy streams, by guest stream id
  PortForwarder ports_{launch_.ports, log_};       // [[port]] listeners and their streams
  bool config_pending_ = false;                    // HELLO came; CONFIG waits for the proxy's CA
  // Budgets (budget.h) and what counts against them.
  Budgets budgets_;
  std::unique_ptr<RotatingLog> guest_log_, console_log_;
  Fd console_;                                // QEMU's serial console socket
  std::uint64_t log_overrun_bytes_ = 0;            // log DATA past the stream's window, dropped
  RefusalLog log_refusal_, route_refusal_, proxy_refusal_;
  bool guest_port_logged_ = false;                 // a guest-opened port stream was refused (logged once)
  bool log_overrun_logged_ = false, log_write_logged_ = false, console_write_logged_ = false;
  DockerWatch docker_watch_;  // [docker]: the agent's "docker state:" console lines
  std::chrono::steady_clock::time_point next_state_write_ = std::chrono::steady_clock::now();
  std::string state_write_error_;                  // why state.json could not be written ("" when it was)
};

}  // namespace sbx::supervisor
