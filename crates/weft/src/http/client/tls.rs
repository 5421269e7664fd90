//! TLS for `https://`: rustls (the ring provider) over weft's `TcpStream`, through
//! futures-rustls; the roots are webpki-roots' plus those the client adds.

#![forbid(unsafe_code)]

use super::conn::Io;
use crate::http::Error;
use crate::net::TcpStream;
use futures_rustls::pki_types::{CertificateDer, ServerName};
use futures_rustls::rustls::{self, ClientConfig, RootCertStore};
use futures_rustls::TlsConnector;
use std::sync::Arc;

/// The connector of a client that trusts the webpki roots and `extra_roots` (DER), offering
/// `alpn` (most preferred first).
pub(crate) fn connector(extra_roots: &[Vec<u8>], alpn: &[&[u8]]) -> Result<TlsConnector, Error> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra_roots {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| Error::builder("the root certificate is not valid").with_source(e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::builder("TLS cannot be set up").with_source(e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The TLS handshake with `host` (its name is sent as SNI and checked against the
/// certificate; an IP address is checked as one).
pub(crate) async fn handshake(
    connector: &TlsConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<Io, Error> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| Error::connect(format!("{host:?} is not a valid TLS server name")))?;
    let tls = connector.connect(name, tcp).await.map_err(Error::connect)?;
    Ok(Io::Tls(Box::new(tls)))
}
