//! Private certificate authorities: `--ca-cert FILE` (or `SSL_CERT_FILE`).
//!
//! A self-hosted Metabase behind a company's own CA presents a certificate
//! the built-in web roots do not vouch for. With a CA bundle, requests to the
//! configured host (the authority of the config's `instance_api_url`) are
//! sent over a TLS connection that trusts the web roots *and* that bundle;
//! every other host keeps the web roots alone, through wasmtime-wasi-http's
//! own client. Either way a refused certificate is reported to the component
//! as `TLS-certificate-error` (not a protocol error) and noted for the host,
//! whose error then says how to trust it.
//!
//! The connection here is a plain HTTP/1.1 client over that TLS stream, with
//! the same three timeouts as wasmtime-wasi-http's: connect (TCP and TLS
//! handshake), first byte, and between bytes of the body.

use super::{AllowEntry, SendResult};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// Used where the component set no timeout (the host clamps them all, so only in tests).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A CA bundle, trusted for one authority.
pub struct PrivateCa {
    /// The authority it is trusted for (the config's `instance_api_url`).
    pub authority: AllowEntry,
    config: Arc<rustls::ClientConfig>,
}

impl PrivateCa {
    /// Reads the PEM certificates in `path`; they are trusted for `authority`, on top of the web roots.
    pub fn load(path: &Path, authority: AllowEntry) -> Result<PrivateCa, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: not a PEM file of certificates: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
        }
        // A system bundle (SSL_CERT_FILE often names one) may hold a certificate webpki cannot
        // use; the usable ones are trusted, and a file with none is an error.
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
        let (added, skipped) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(format!("{}: none of its {skipped} certificate(s) can be used as a CA", path.display()));
        }
        if skipped > 0 {
            crate::diagnostics::logger::debug!("tls: {}: {skipped} certificate(s) cannot be used as a CA, skipped", path.display());
        }
        let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
        Ok(PrivateCa { authority, config: Arc::new(config) })
    }

    /// Whether a request goes through this bundle's connection: https to its authority.
    pub fn applies_to(&self, uri: &http::Uri) -> bool {
        applies(&self.authority, uri)
    }

    /// Sends `request` over a connection that trusts this bundle.
    pub async fn send(&self, request: http::Request<WasiBody>, options: RequestOptions) -> SendResult {
        let (mut parts, body) = request.into_parts();
        let host = parts.uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_string();
        let address = format!("{host}:{}", parts.uri.port_u16().unwrap_or(443));
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']').to_string())
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);

        // TCP, then the TLS handshake, each within the connect timeout.
        let tcp = timeout(connect_timeout, TcpStream::connect(&address))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Connect)?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        let tls = timeout(connect_timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        let (mut sender, connection) = timeout(connect_timeout, hyper::client::conn::http1::handshake(TokioIo::new(tls)))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;

        // Origin form on the wire: the authority goes in the Host header.
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        parts.uri = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
        let request = http::Request::from_parts(parts, body);

        // The connection's I/O is driven while the response head is awaited,
        // then handed back for wasmtime-wasi-http to drive while the body is read.
        let mut connection = Box::pin(connection);
        let first_byte = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
        let response = tokio::select! {
            r = timeout(first_byte, sender.send_request(request)) => r.map_err(|_| Error::ConnectionReadTimeout)??,
            ended = &mut connection => return Err(ended.err().map_or(Error::HttpResponseIncomplete, Error::from)),
        };
        let between = options.between_bytes_timeout.unwrap_or(DEFAULT_TIMEOUT).max(Duration::from_nanos(1));
        let response = response.map(|incoming| TimedBody::new(incoming, between).boxed_unsync());
        let io = async move { connection.await.map_err(Error::from) };
        Ok((response, Box::new(io)))
    }
}

/// Whether a request to `uri` is https to `authority`.
fn applies(authority: &AllowEntry, uri: &http::Uri) -> bool {
    uri.scheme() == Some(&http::uri::Scheme::HTTPS) && super::AllowList(vec![authority.clone()]).allows(uri)
}

/// The rustls reason when an I/O error of a TLS handshake is a refused server certificate.
pub fn certificate_refusal(err: &std::io::Error) -> Option<String> {
    match err.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(reason) => Some(format!("{reason:?}")),
        _ => None,
    }
}

/// A response body that fails with `ConnectionReadTimeout` when no frame
/// arrives within `between` of the previous one (or of the head).
struct TimedBody {
    inner: hyper::body::Incoming,
    between: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(inner: hyper::body::Incoming, between: Duration) -> TimedBody {
        TimedBody { inner, between, deadline: Box::pin(tokio::time::sleep(between)) }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = Instant::now() + self.between;
                self.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_applies_to_https_at_the_configured_authority_only() {
        let at = AllowEntry::from_instance_url("https://mb.corp.example:8443/api/").unwrap();
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(applies(&at, &uri("https://mb.corp.example:8443/api/card")));
        assert!(applies(&at, &uri("https://MB.corp.example:8443/api/card")));
        assert!(!applies(&at, &uri("http://mb.corp.example:8443/api/card")));
        assert!(!applies(&at, &uri("https://mb.corp.example/api/card")));
        assert!(!applies(&at, &uri("https://other.example:8443/api/card")));
    }

    #[test]
    fn a_file_without_certificates_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("ca-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let at = AllowEntry::parse("localhost").unwrap();
        let e = PrivateCa::load(&empty, at.clone()).err().unwrap();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = PrivateCa::load(&dir.join("missing.pem"), at).err().unwrap();
        assert!(e.contains("cannot be read"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
