// sbx ports and sbx restart without a VM: what a Sandboxfile forwards before its sandbox exists,
// and the manuals.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "sbx_run.h"
#include "support/temp_dir.h"

using namespace sbx::cli_test;

TEST_CASE("sbx ports lists what a Sandboxfile forwards before its sandbox is created", "[cli][ports]") {
  sbx::test::TempDir state("sbx-ports-cli-state"), project("sbx-ports-cli");
  ::setenv("SBX_STATE_DIR", state.path().c_str(), 1);
  std::ofstream(project.path() / "Sandboxfile") << "version = 1\nname = \"web\"\n[[port]]\nguest = 5173\n"
                                                << "[[port]]\nguest = 3000\nhost = \"0.0.0.0:8080\"\n";
  const Run r = run_sbx({"ports", "--json", project.path().string()});
  INFO(r.err);
  REQUIRE(r.rc == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["name"] == "web");
  CHECK(j["status"] == "not created");
  REQUIRE(j["ports"].size() == 2);
  CHECK(j["ports"][0] == nlohmann::json{{"host_address", "127.0.0.1"}, {"host_port", 5173}, {"guest_port", 5173},
                                         {"listening", false}, {"loopback_only", true}});
  CHECK(j["ports"][1]["host_address"] == "0.0.0.0");
  CHECK(j["ports"][1]["loopback_only"] == false);
  const Run text = run_sbx({"ports", project.path().string()});
  CHECK(text.out.find("127.0.0.1:5173") != std::string::npos);
  CHECK(text.out.find("0.0.0.0:8080") != std::string::npos);
  ::unsetenv("SBX_STATE_DIR");
}

TEST_CASE("sbx restart and sbx ports have manuals", "[cli][help]") {
  const Run restart = run_sbx({"restart", "--help"});
  CHECK(restart.rc == 0);
  CHECK(restart.out.starts_with("NAME\n    sbx restart - Stop a sandbox and start it again, keeping its disk"));
  const Run ports = run_sbx({"help", "ports"});
  CHECK(ports.rc == 0);
  CHECK(ports.out.find("127.0.0.1 unless the Sandboxfile writes") != std::string::npos);
}
