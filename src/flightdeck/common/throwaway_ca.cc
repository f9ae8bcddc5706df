#include "flightdeck/common/throwaway_ca.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "flightdeck/common/random.h"

namespace flightdeck {

namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

arrow::Status Failed(const char* what) { return arrow::Status::IOError("making a throwaway certificate: ", what); }

arrow::Result<Key> NewKey() {
  Key key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return Failed("EVP_EC_gen");
  return key;
}

arrow::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (extension == nullptr) return Failed("X509V3_EXT_conf_nid");
  const int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  return added == 1 ? arrow::Status::OK() : Failed("X509_add_ext");
}

// A certificate for `subject` and `key`, signed by `issuer_key` (and named
// by `issuer`, or self-signed when null), with `extensions`.
arrow::Result<Cert> NewCertificate(const std::string& subject, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                                   const std::vector<std::pair<int, std::string>>& extensions) {
  Cert cert(X509_new(), X509_free);
  if (!cert) return Failed("X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set_int64(X509_get_serialNumber(cert.get()), static_cast<int64_t>(RandomU64() >> 1));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(subject.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509_set_pubkey(cert.get(), key);
  for (const auto& [nid, value] : extensions) {
    ARROW_RETURN_NOT_OK(AddExtension(cert.get(), issuer ? issuer : cert.get(), nid, value));
  }
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) return Failed("X509_sign");
  return cert;
}

template <typename Write>
arrow::Result<std::string> Pem(Write write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || write(bio.get()) != 1) return Failed("PEM_write_bio");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace

arrow::Result<ThrowawayCertificates> MakeThrowawayCertificates(const std::vector<std::string>& dns_names,
                                                               const std::vector<std::string>& ips) {
  ARROW_ASSIGN_OR_RAISE(Key ca_key, NewKey());
  ARROW_ASSIGN_OR_RAISE(Cert ca, NewCertificate("flightdeck throwaway CA", ca_key.get(), nullptr, ca_key.get(),
                                                {{NID_basic_constraints, "critical,CA:TRUE"},
                                                 {NID_key_usage, "critical,keyCertSign,cRLSign"}}));
  std::string names;
  for (const auto& dns : dns_names) names += (names.empty() ? "" : ",") + std::string("DNS:") + dns;
  for (const auto& ip : ips) names += (names.empty() ? "" : ",") + std::string("IP:") + ip;
  ARROW_ASSIGN_OR_RAISE(Key key, NewKey());
  ARROW_ASSIGN_OR_RAISE(Cert cert,
                        NewCertificate(dns_names.empty() ? "localhost" : dns_names[0], key.get(), ca.get(),
                                       ca_key.get(),
                                       {{NID_basic_constraints, "CA:FALSE"},
                                        {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                                        {NID_ext_key_usage, "serverAuth"},
                                        {NID_subject_alt_name, names}}));
  ThrowawayCertificates out;
  ARROW_ASSIGN_OR_RAISE(out.ca_pem, Pem([&](BIO* bio) { return PEM_write_bio_X509(bio, ca.get()); }));
  ARROW_ASSIGN_OR_RAISE(out.cert_pem, Pem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); }));
  ARROW_ASSIGN_OR_RAISE(out.key_pem, Pem([&](BIO* bio) {
                          return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
                        }));
  return out;
}

}  // namespace flightdeck
