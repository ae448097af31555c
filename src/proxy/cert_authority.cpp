#include "proxy/cert_authority.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/paths.h"

namespace sbx::proxy {

struct CertAuthority::Keys {
  EVP_PKEY* ca_key = nullptr;
  X509* ca_cert = nullptr;
  EVP_PKEY* leaf_key = nullptr;  // one key for every leaf of this proxy process
  ~Keys() {
    EVP_PKEY_free(ca_key);
    X509_free(ca_cert);
    EVP_PKEY_free(leaf_key);
  }
};

namespace {

std::string ssl_error() {
  const unsigned long e = ERR_get_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

EVP_PKEY* new_key() { return EVP_EC_gen("P-256"); }

bool add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

void set_serial(X509* cert) {
  unsigned char bytes[16];
  RAND_bytes(bytes, sizeof bytes);
  bytes[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
}

X509* make_cert(EVP_PKEY* key, EVP_PKEY* signer, X509* issuer, const std::string& cn, long days, bool ca,
                const std::string& host) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  set_serial(cert);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), days * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("sbx"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : cert;
  bool ok = true;
  if (ca) {
    ok &= add_ext(cert, iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    ok &= add_ext(cert, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    ok &= add_ext(cert, iss, NID_subject_key_identifier, "hash");
  } else {
    ok &= add_ext(cert, iss, NID_basic_constraints, "critical,CA:FALSE");
    ok &= add_ext(cert, iss, NID_key_usage, "critical,digitalSignature");
    ok &= add_ext(cert, iss, NID_ext_key_usage, "serverAuth");
    ok &= add_ext(cert, iss, NID_subject_alt_name, ("DNS:" + host).c_str());
    ok &= add_ext(cert, iss, NID_authority_key_identifier, "keyid:always");
  }
  if (!ok || X509_sign(cert, signer, EVP_sha256()) <= 0) {
    X509_free(cert);
    return nullptr;
  }
  return cert;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen, void*) {
  // Only HTTP/1.1: the proxy rewrites requests and cannot speak HTTP/2 frames.
  static const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, kHttp11, sizeof kHttp11, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

Result<std::unique_ptr<CertAuthority>> CertAuthority::open(const std::filesystem::path& dir) {
  SBX_TRY_VOID(paths::ensure_private_dir(dir));
  std::unique_ptr<CertAuthority> ca(new CertAuthority());
  ca->keys_ = std::make_unique<Keys>();
  Keys& k = *ca->keys_;
  const auto key_path = dir / "ca.key";
  const auto crt_path = dir / "ca.crt";
  if (std::filesystem::exists(key_path)) {
    struct stat st {};
    if (::stat(key_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
      return fail(ErrorCode::permission, "the sandbox CA key " + key_path.string() + " is readable by others",
                  "run: chmod 600 " + key_path.string());
    FILE* f = std::fopen(key_path.c_str(), "r");
    if (f) {
      k.ca_key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
      std::fclose(f);
    }
    f = std::fopen(crt_path.c_str(), "r");
    if (f) {
      k.ca_cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
      std::fclose(f);
    }
    if (!k.ca_key || !k.ca_cert)
      return fail(ErrorCode::invalid, "cannot read the sandbox CA in " + dir.string() + ": " + ssl_error(),
                  "remove ca.key and ca.crt to have a new CA generated (the guest must then trust the new one)");
  } else {
    k.ca_key = new_key();
    if (!k.ca_key) return fail(ErrorCode::runtime, "cannot generate the CA key: " + ssl_error());
    k.ca_cert = make_cert(k.ca_key, k.ca_key, nullptr, "sbx sandbox CA", 3650, true, "");
    if (!k.ca_cert) return fail(ErrorCode::runtime, "cannot create the CA certificate: " + ssl_error());
    const int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return fail(ErrorCode::io, "cannot create " + key_path.string() + ": " + std::strerror(errno));
    FILE* f = fdopen(fd, "w");
    const bool ok = PEM_write_PrivateKey(f, k.ca_key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
    if (!ok) return fail(ErrorCode::io, "cannot write " + key_path.string());
    f = std::fopen(crt_path.c_str(), "w");
    if (!f || PEM_write_X509(f, k.ca_cert) != 1) {
      if (f) std::fclose(f);
      return fail(ErrorCode::io, "cannot write " + crt_path.string());
    }
    std::fclose(f);
  }
  k.leaf_key = new_key();
  if (!k.leaf_key) return fail(ErrorCode::runtime, "cannot generate a leaf key: " + ssl_error());
  return ca;
}

CertAuthority::~CertAuthority() {
  for (auto& [h, ctx] : contexts_) SSL_CTX_free(static_cast<SSL_CTX*>(ctx));
}

std::string CertAuthority::certificate_pem() const {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, keys_->ca_cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

Result<void*> CertAuthority::server_context(const std::string& host) {
  std::lock_guard l(mu_);
  if (auto it = contexts_.find(host); it != contexts_.end()) return it->second;
  X509* leaf = make_cert(keys_->leaf_key, keys_->ca_key, keys_->ca_cert, host, 30, false, host);
  if (!leaf) return fail(ErrorCode::runtime, "cannot mint a certificate for " + host + ": " + ssl_error());
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  const bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1 && SSL_CTX_use_PrivateKey(ctx, keys_->leaf_key) == 1;
  X509_free(leaf);
  if (!ok) {
    SSL_CTX_free(ctx);
    return fail(ErrorCode::runtime, "cannot use the certificate for " + host + ": " + ssl_error());
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  contexts_[host] = ctx;
  return static_cast<void*>(ctx);
}

}  // namespace sbx::proxy
