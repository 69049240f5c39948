//! Live mode: forward the (allow-listed) request to the network.
//!
//! The response body is returned as a stream, never buffered: the guest
//! parses it as it arrives, so host memory does not grow with the size of a
//! response.

use super::tls::PrivateCa;
use super::{full_body, IoFuture, SendResult};
use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::{RequestOptions, WasiBody};

pub async fn send(parts: http::request::Parts, body: Bytes, options: RequestOptions, ca: Option<&PrivateCa>) -> SendResult {
    forward(http::Request::from_parts(parts, full_body(body)), options, ca).await
}

/// Sends a request: over a connection that trusts the private CA when it
/// applies to the request's authority (`--ca-cert`), else with
/// wasmtime-wasi-http's client and the web roots.
pub async fn forward(request: http::Request<WasiBody>, options: RequestOptions, ca: Option<&PrivateCa>) -> SendResult {
    if let Some(ca) = ca.filter(|ca| ca.applies_to(request.uri())) {
        return ca.send(request, options).await;
    }
    let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
    Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
}
