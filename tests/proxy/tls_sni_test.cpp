// Unit tests for the ClientHello peek (src/proxy/tls_sni.*), fed by a real TLS client.
#include <catch2/catch.hpp>

#include <fstream>

#include "proxy/tls_sni.h"
#include "test_support.h"

using namespace sbx::proxy;

TEST_CASE("the ClientHello peek finds the server name from real TLS clients", "[proxy]") {
  // A real ClientHello captured from openssl s_client into a file via a local listener.
  sbx::proxy::test::TempDir dir;
  const auto f = (dir.path / "hello.bin").string();
  const std::string d = dir.path.string();
  // A one-shot listener records the first bytes a real TLS client sends; wait (bounded) for it.
  sbx::proxy::test::sh("(timeout 10 /usr/bin/python3 -c \"import socket\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n"
                       "open('" + d + "/port.tmp','w').write(str(s.getsockname()[1]))\nimport os;os.rename('" + d + "/port.tmp','" + d +
                       "/port')\nc,_=s.accept();d=c.recv(65536);open('" + f + "','wb').write(d)\" > /dev/null 2>&1 &) ; "
                       "for i in $(seq 100); do [ -s " + d + "/port ] && break; sleep 0.05; done; "
                       "echo | timeout 5 openssl s_client -connect 127.0.0.1:$(cat " + d + "/port) -servername Front.Test >/dev/null 2>&1; "
                       "for i in $(seq 100); do [ -s " + f + " ] && break; sleep 0.05; done");
  std::ifstream in(f, std::ios::binary);
  std::string hello((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(hello.size() > 50);
  std::string name;
  CHECK(peek_client_hello(hello, name) == HelloStatus::sni);
  CHECK(name == "front.test");
  CHECK(peek_client_hello(hello.substr(0, 20), name) == HelloStatus::need_more);
  CHECK(peek_client_hello("SSH-2.0-OpenSSH\r\n", name) == HelloStatus::not_tls);
  std::string broken = hello;
  broken[5] = 2;  // a ServerHello is not a ClientHello
  CHECK(peek_client_hello(broken, name) == HelloStatus::malformed);
}
