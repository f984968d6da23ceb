// Stand-ins for the libraries Debian's civetweb 1.15 loads at run time: it calls
// dlopen("libssl.so") and dlopen("libcrypto.so") and looks functions up by name. Two problems:
// - OpenSSL 3 no longer exports SSL_get_peer_certificate (a macro over
//   SSL_get1_peer_certificate now), so civetweb's table holds a null pointer and the first HTTPS
//   request crashes (civetweb issue #1334);
// - the unversioned names exist only with the -dev package installed.
// This file is built twice, as lib/pagescope/libssl.so (SONAME "libssl.so", needing libssl.so.3)
// and lib/pagescope/libcrypto.so (SONAME "libcrypto.so", needing libcrypto.so.3). pagescope links
// both, so they are loaded at start-up; glibc's dlopen matches an already loaded object by
// SONAME, so civetweb's dlopen("libssl.so") returns the stand-in and dlsym searches it and then
// the real libssl.so.3. Only the missing symbol is defined here.

struct ssl_st;
struct x509_st;

#ifdef PAGESCOPE_SHIM_LIBSSL
struct x509_st* SSL_get1_peer_certificate(const struct ssl_st* s);

__attribute__((visibility("default"))) struct x509_st* SSL_get_peer_certificate(
    const struct ssl_st* s) {
  // OpenSSL 1.1's SSL_get_peer_certificate also returned a new reference (civetweb frees it).
  return SSL_get1_peer_certificate(s);
}

__attribute__((visibility("default"))) int pagescope_civetweb_libssl_shim(void) { return 1; }
#else
__attribute__((visibility("default"))) int pagescope_civetweb_libcrypto_shim(void) { return 1; }
#endif
