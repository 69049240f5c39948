//! Live mode: forward the (allow-listed) request to the network.
//!
//! The response body is returned as a stream, never buffered: the guest
//! parses it as it arrives, so host memory does not grow with the size of a
//! response.

use super::{full_body, IoFuture, SendResult};
use bytes::Bytes;
use http_body_util::BodyExt;
use wasmtime_wasi_http::RequestOptions;

pub async fn send(parts: http::request::Parts, body: Bytes, options: RequestOptions) -> SendResult {
    let request = http::Request::from_parts(parts, full_body(body));
    let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
    Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
}
