// The host a redirected connection names (src/proxy/transparent.*), and secret values from a
// mounted directory (src/proxy/dir_secret_source.*). The redirect itself is exercised for real
// in tests/render/transparent_netns.py.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <openssl/ssl.h>

#include "proxy/dir_secret_source.h"
#include "proxy/transparent.h"
#include "test_support.h"

using namespace sbx::proxy;

namespace {

// The ClientHello OpenSSL sends for `sni`, captured from a memory BIO.
std::string client_hello(const char* sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, rbio, wbio);
  if (sni) SSL_set_tlsext_host_name(ssl, sni);
  SSL_connect(ssl);  // wants to read the ServerHello: the ClientHello is in wbio
  char* data = nullptr;
  const long n = BIO_get_mem_data(wbio, &data);
  std::string out(data, static_cast<size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

}  // namespace

TEST_CASE("transparent: the host comes from the TLS server name", "[proxy]") {
  const auto hello = client_hello("API.Example.com");
  auto r = host_from_first_bytes(hello);
  CHECK(r.complete);
  CHECK(r.host == "api.example.com");
  // A partial hello waits for more; one without a name is complete and nameless.
  CHECK_FALSE(host_from_first_bytes(hello.substr(0, 30)).complete);
  r = host_from_first_bytes(client_hello(nullptr));
  CHECK(r.complete);
  CHECK(r.host.empty());
}

TEST_CASE("transparent: the host comes from the HTTP Host header, without its port", "[proxy]") {
  auto r = host_from_first_bytes("GET /x HTTP/1.1\r\nHost: Files.Example.com:8080\r\nAccept: */*\r\n\r\n");
  CHECK(r.complete);
  CHECK(r.host == "files.example.com");
  CHECK_FALSE(host_from_first_bytes("GET /x HTTP/1.1\r\nHost: a.example").complete);
  r = host_from_first_bytes("GET /x HTTP/1.1\r\n\r\n");  // no Host: nameless
  CHECK(r.complete);
  CHECK(r.host.empty());
  r = host_from_first_bytes("GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");  // ambiguous
  CHECK(r.host.empty());
  r = host_from_first_bytes(std::string(20000, 'A'));  // neither, and too long to wait for
  CHECK(r.complete);
  CHECK(r.host.empty());
}

TEST_CASE("secrets dir: a mounted Secret's file is the value, one trailing newline dropped", "[proxy][security]") {
  test::TempDir dir;
  std::ofstream(dir.path / "gh.token") << "tok-123\n";
  std::ofstream(dir.path / "raw") << "a\r\n\n";
  std::filesystem::create_directory(dir.path / "..data");
  std::ofstream(dir.path / "..data" / "linked") << "via-link";
  std::filesystem::create_symlink("..data/linked", dir.path / "linked");
  std::ofstream(dir.path / "big") << std::string(16 * 1024 + 1, 'x');
  auto source = dir_secret_source(dir.path);
  auto v = source("gh.token");
  REQUIRE(v);
  CHECK(v->view() == "tok-123");
  v = source("raw");
  REQUIRE(v);
  CHECK(v->view() == "a\r\n");
  v = source("linked");  // Kubernetes' ..data layout
  REQUIRE(v);
  CHECK(v->view() == "via-link");
  CHECK_FALSE(source("big"));
  CHECK(source("missing").error().code == sbx::ErrorCode::not_found);
  CHECK_FALSE(source("../gh.token"));
  CHECK_FALSE(source("..data"));
  CHECK_FALSE(source(""));
}
