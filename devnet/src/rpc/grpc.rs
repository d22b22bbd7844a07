//! The gRPC endpoint: every unary method path (`/cosmos.bank.v1beta1.Query/Balance`,
//! `/ibc.core.channel.v1.Query/PacketCommitment`, `/cosmos.tx.v1beta1.Service/Simulate`, ...) is
//! answered by `abci_query(path, request_bytes)`, the way a Cosmos SDK node routes gRPC queries
//! through its ABCI query router. The request bytes pass through untouched (a raw-bytes codec);
//! `x-cosmos-block-height` selects the height, and is echoed on the response. Served over TLS when
//! the devnet has a certificate; every answer waits out the node's standing RPC latency.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use prost::bytes::{Buf, BufMut};
use tokio_util::sync::CancellationToken;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

use crate::node::Node;

/// The metadata key Cosmos SDK uses for the query height.
pub const HEIGHT_HEADER: &str = "x-cosmos-block-height";

/// A codec that moves message bytes without decoding them.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

/// Encoder / decoder half of [`RawCodec`].
#[derive(Clone, Copy, Debug, Default)]
pub struct RawBytes;

impl Encoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawBytes {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let mut out = vec![0u8; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawBytes;
    type Decoder = RawBytes;

    fn encoder(&mut self) -> RawBytes {
        RawBytes
    }

    fn decoder(&mut self) -> RawBytes {
        RawBytes
    }
}

/// Maps an ABCI query failure to a gRPC status the way the SDK's errors do.
pub fn status_for(codespace: &str, code: u32, log: &str) -> Status {
    let grpc = match (codespace, code) {
        (_, _) if log.contains("not found") => Code::NotFound,
        ("sdk", 38) | ("sdk", 22) => Code::NotFound,
        ("sdk", 18) | ("sdk", 7) | ("sdk", 3) => Code::InvalidArgument,
        ("sdk", 4) => Code::Unauthenticated,
        ("sdk", 5) | ("sdk", 11) | ("sdk", 13) => Code::InvalidArgument,
        _ => Code::Unknown,
    };
    Status::new(grpc, log.to_string())
}

struct Unary {
    node: Node,
    path: String,
}

impl tonic::server::UnaryService<Vec<u8>> for Unary {
    type Response = Vec<u8>;
    type Future = Pin<Box<dyn Future<Output = Result<tonic::Response<Vec<u8>>, Status>> + Send>>;

    fn call(&mut self, request: tonic::Request<Vec<u8>>) -> Self::Future {
        let node = self.node.clone();
        let path = self.path.clone();
        Box::pin(async move {
            let height = match request.metadata().get(HEIGHT_HEADER) {
                None => 0,
                Some(v) => v
                    .to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .ok_or_else(|| {
                        Status::invalid_argument(format!("invalid {HEIGHT_HEADER} header"))
                    })?,
            };
            let data = request.into_inner();
            let n = node.clone();
            let res =
                tokio::task::spawn_blocking(move || n.abci_query(&path, &data, height, false))
                    .await
                    .map_err(|e| Status::internal(format!("query task failed: {e}")))?;
            if res.code.is_err() {
                return Err(status_for(&res.codespace, res.code.value(), &res.log));
            }
            let mut response = tonic::Response::new(res.value.to_vec());
            if let Ok(v) = res.height.value().to_string().parse() {
                response.metadata_mut().insert(HEIGHT_HEADER, v);
            }
            Ok(response)
        })
    }
}

/// A tower service answering any gRPC path with `abci_query`.
#[derive(Clone)]
pub struct GrpcQueries {
    node: Node,
}

impl tonic::codegen::Service<axum::http::Request<axum::body::Body>> for GrpcQueries {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<axum::body::Body>) -> Self::Future {
        let svc = Unary {
            node: self.node.clone(),
            path: req.uri().path().to_string(),
        };
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawCodec);
            let response = grpc.unary(svc, req).await;
            Ok(response.map(axum::body::Body::new))
        })
    }
}

/// Serves gRPC (HTTP/2; over TLS when `tls` is given) on `listener` until `shutdown`.
pub async fn serve_grpc(
    node: Node,
    listener: tokio::net::TcpListener,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = axum::Router::new()
        .fallback_service(GrpcQueries { node: node.clone() })
        .layer(axum::middleware::from_fn_with_state(
            node,
            super::server::delay_answer,
        ));
    match tls {
        Some(config) => crate::tls::serve_tls(listener, app, config, shutdown).await,
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_failures_map_to_grpc_codes() {
        assert_eq!(status_for("sdk", 38, "x").code(), Code::NotFound);
        assert_eq!(
            status_for("ibc", 9, "packet commitment not found").code(),
            Code::NotFound
        );
        assert_eq!(status_for("sdk", 18, "bad").code(), Code::InvalidArgument);
        assert_eq!(status_for("channel", 1, "boom").code(), Code::Unknown);
        assert_eq!(status_for("channel", 1, "boom").message(), "boom");
    }
}
