// The fake model provider through the real `sbx proxy`, as an agent CLI would use it: names pinned
// with SBX_EGRESS_RESOLVE (no /etc/hosts), TLS intercepted with the proxy's CA, the real key put on
// the wire in place of the client's placeholder, SSE passed on event by event.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_provider.h"
#include "test_support.h"

using namespace sbx::proxy::test;
using sbx::testing::FakeProvider;
using sbx::testing::kFakeProviderAnswer;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kCurl = "env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u no_proxy -u NO_PROXY curl -sS --max-time 20 ";
const std::string kAnthropicKey = "sk-ant-real-Qm4vX9tLw2";
const std::string kOpenAiKey = "sk-openai-real-Hy7pR3zK";
const std::string kPlaceholder = "sbx-placeholder-key";

// `sbx proxy` with the pins and test secrets in its environment; its port from stdout.
struct PinnedProxy {
  PinnedProxy(const std::filesystem::path& dir, const std::string& pins, const std::filesystem::path& upstream_ca) {
    int out[2];
    REQUIRE(pipe(out) == 0);
    pid = fork();
    if (pid == 0) {
      dup2(out[1], 1);
      const int err = open((dir / "stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(err, 2);
      setenv("SBX_EGRESS_RESOLVE", pins.c_str(), 1);
      setenv("SBX_PROXY_TEST_SECRETS", "1", 1);
      setenv("SBX_TEST_SECRET_ANTHROPIC_KEY", kAnthropicKey.c_str(), 1);
      setenv("SBX_TEST_SECRET_OPENAI_KEY", kOpenAiKey.c_str(), 1);
      setenv("SBX_LOG", "debug", 1);
      execl(SBX_BINARY, SBX_BINARY, "proxy", "--sandboxfile", (dir / "Sandboxfile").c_str(), "--listen", "127.0.0.1:0",
            "--log", (dir / "egress.jsonl").c_str(), "--state-dir", (dir / "state").c_str(), "--upstream-ca",
            upstream_ca.c_str(), nullptr);
      _exit(127);
    }
    close(out[1]);
    std::string line;
    char c;
    while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
    close(out[0]);
    if (line.rfind(':') != std::string::npos) port = static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
  }
  ~PinnedProxy() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  int pid = -1;
  std::uint16_t port = 0;
};

std::string sandboxfile(int port) {
  const std::string p = std::to_string(port);
  return "version = 1\n[egress]\nallow = [\"anthropic.provider.test:" + p + "\", \"openai.provider.test:" + p +
         "\", \"127.0.0.1/32:" + p + "\"]\n"
         "[[secret]]\nname = \"ANTHROPIC_KEY\"\ninject = \"header\"\nhosts = [\"anthropic.provider.test\"]\n"
         "header = \"x-api-key\"\ntemplate = \"{}\"\n"
         "[[secret]]\nname = \"OPENAI_KEY\"\ninject = \"header\"\nhosts = [\"openai.provider.test\"]\n"
         "header = \"Authorization\"\ntemplate = \"Bearer {}\"\n";
}

}  // namespace

TEST_CASE("an agent's requests reach the fake provider through sbx proxy by pinned names, with the real key and never the placeholder", "[proxy][e2e][pins][agents-fixture]") {
  TempDir dir;
  FakeProvider provider(dir.path / "provider", {"anthropic.provider.test", "openai.provider.test"}, 200);
  REQUIRE(provider.port > 0);
  const std::string port = std::to_string(provider.port);
  std::ofstream(dir.path / "Sandboxfile") << sandboxfile(provider.port);
  PinnedProxy px(dir.path, "anthropic.provider.test=127.0.0.1;openai.provider.test=127.0.0.1", provider.ca);
  REQUIRE(px.port != 0);
  const auto ca = dir.path / "state" / "ca.crt";
  REQUIRE(std::filesystem::exists(ca));
  // The client trusts only the proxy's CA: every byte it reads was re-encrypted by the proxy.
  const std::string curl = kCurl + "--cacert " + ca.string() + " -x http://127.0.0.1:" + std::to_string(px.port) + " ";
  const std::string anthropic = "https://anthropic.provider.test:" + port, openai = "https://openai.provider.test:" + port;
  int rc = -1;

  // Anthropic Messages, JSON and SSE, with the placeholder key the CLI would send.
  auto out = sh(curl + "-H 'x-api-key: " + kPlaceholder + "' -H 'content-type: application/json' " + anthropic +
                    "/v1/messages -d '{\"model\":\"m\",\"max_tokens\":16,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'",
                &rc);
  INFO(out);
  CHECK(rc == 0);
  auto j = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["content"][0]["text"] == kFakeProviderAnswer);
  out = sh(curl + "-N -H 'x-api-key: " + kPlaceholder + "' " + anthropic + "/v1/messages -d '{\"model\":\"m\",\"stream\":true}'", &rc);
  CHECK(rc == 0);
  size_t at = 0;
  for (const char* ev : {"event: message_start", "event: content_block_start", "event: content_block_delta",
                         "event: content_block_stop", "event: message_delta", "event: message_stop"}) {
    INFO(ev);
    const auto next = out.find(ev, at);
    CHECK(next != std::string::npos);
    at = next == std::string::npos ? at : next;
  }
  // The deltas put together are the answer.
  std::string text;
  for (size_t pos = out.find("\"text_delta\", \"text\": \""); pos != std::string::npos;
       pos = out.find("\"text_delta\", \"text\": \"", pos + 1)) {
    const size_t start = pos + std::string("\"text_delta\", \"text\": \"").size();
    text += out.substr(start, out.find('"', start) - start);
  }
  CHECK(text == kFakeProviderAnswer);

  // OpenAI Responses, JSON and SSE, with the placeholder bearer token.
  out = sh(curl + "-H 'Authorization: Bearer " + kPlaceholder + "' " + openai + "/v1/responses -d '{\"model\":\"m\",\"input\":\"hi\"}'", &rc);
  j = nlohmann::json::parse(out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["output"][0]["content"][0]["text"] == kFakeProviderAnswer);
  out = sh(curl + "-N -H 'Authorization: Bearer " + kPlaceholder + "' " + openai + "/v1/responses -d '{\"model\":\"m\",\"stream\":true}'", &rc);
  CHECK(out.find("event: response.created") != std::string::npos);
  CHECK(out.find("event: response.output_text.delta") != std::string::npos);
  CHECK(out.find("event: response.completed") != std::string::npos);
  CHECK(out.find(kFakeProviderAnswer) != std::string::npos);  // output_text.done carries the whole text

  // The server saw the real key of its own provider on every request, never the placeholder,
  // and never the other provider's key.
  const auto reqs = provider.requests();
  REQUIRE(reqs.size() == 4);
  for (const auto& r : reqs) {
    INFO(r.dump());
    const bool is_anthropic = r["path"] == "/v1/messages";
    CHECK(r["x-api-key"] == (is_anthropic ? kAnthropicKey : ""));
    CHECK(r["authorization"] == (is_anthropic ? "" : "Bearer " + kOpenAiKey));
    CHECK(r.dump().find(kPlaceholder) == std::string::npos);
  }
  CHECK(reqs[1]["stream"] == true);
  // Each connection was decided on a pinned name (no DNS), and the keys are in no log.
  std::this_thread::sleep_for(300ms);
  const auto egress = slurp(dir.path / "egress.jsonl");
  CHECK(egress.find("\"pinned\":true") != std::string::npos);
  CHECK(egress.find("\"intercepted\":true") != std::string::npos);
  for (const auto& key : {kAnthropicKey, kOpenAiKey}) {
    CHECK(egress.find(key) == std::string::npos);
    CHECK(slurp(dir.path / "stderr.log").find(key) == std::string::npos);
  }
}

TEST_CASE("SSE from the fake provider arrives through the intercepting proxy event by event, not buffered", "[proxy][e2e][pins][agents-fixture]") {
  TempDir dir;
  // 10 events 250 ms apart: the whole stream takes about 2.25 s.
  FakeProvider provider(dir.path / "provider", {"anthropic.provider.test"}, 250);
  REQUIRE(provider.port > 0);
  std::ofstream(dir.path / "Sandboxfile") << sandboxfile(provider.port);
  PinnedProxy px(dir.path, "anthropic.provider.test=127.0.0.1", provider.ca);
  REQUIRE(px.port != 0);
  TunnelClient tc(px.port, "anthropic.provider.test", static_cast<std::uint16_t>(provider.port), slurp(dir.path / "state" / "ca.crt"));
  REQUIRE(tc.reply.starts_with("HTTP/1.1 200"));
  const std::string body = "{\"model\":\"m\",\"stream\":true}";
  REQUIRE(tc.send("POST /v1/messages HTTP/1.1\r\nHost: anthropic.provider.test:" + std::to_string(provider.port) +
                  "\r\nx-api-key: " + kPlaceholder + "\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body));
  const auto t0 = Clock::now();
  const std::string first = tc.read("content_block_delta", 10000);
  const auto t_first = Clock::now();
  REQUIRE(first.find("content_block_delta") != std::string::npos);
  CHECK(first.find("message_stop") == std::string::npos);
  const std::string rest = tc.read("event: message_stop", 10000);
  const auto t_last = Clock::now();
  CHECK(rest.find("message_stop") != std::string::npos);
  const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(t_last - t_first).count();
  INFO("first delta after " << std::chrono::duration_cast<std::chrono::milliseconds>(t_first - t0).count()
                            << " ms, message_stop " << gap << " ms later");
  CHECK(gap >= 900);  // six more events at 250 ms each came after the first delta, as they were sent
  REQUIRE(provider.requests().size() == 1);
  CHECK(provider.requests()[0]["x-api-key"] == kAnthropicKey);
}

TEST_CASE("sbx proxy refuses a malformed SBX_EGRESS_RESOLVE, naming the variable", "[proxy][e2e][pins]") {
  int rc = 0;
  const auto out = sh("SBX_EGRESS_RESOLVE='api.test=127.1' " + std::string(SBX_BINARY) + " proxy --sandboxfile " SBX_SOURCE_DIR
                      "/examples/hello --listen 127.0.0.1:0 2>&1",
                      &rc);
  CHECK(rc == 2);
  CHECK(out.find("SBX_EGRESS_RESOLVE") != std::string::npos);
  CHECK(out.find("'127.1'") != std::string::npos);
}
