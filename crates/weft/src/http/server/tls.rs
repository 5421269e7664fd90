//! HTTPS: the TLS acceptor a server's connections start with.

#![forbid(unsafe_code)]

use futures_rustls::rustls::ServerConfig;
use futures_rustls::TlsAcceptor;
use std::sync::Arc;

/// The acceptor for `config`, on a copy whose ALPN protocols are `h2` and `http/1.1`, in
/// that order of preference (the server speaks those two).
pub(super) fn acceptor(config: Arc<ServerConfig>) -> TlsAcceptor {
    let mut config = (*config).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}
