//! tower both ways: a tower `Service` served as an [`HttpComponent`] ([`ServiceComponent`]), and
//! an `HttpComponent` as a tower `Service` ([`ComponentService`]), so tower-http's layers wrap
//! windlass routes and windlass components mount in axum.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tower_service::Service;

use crate::error::BoxError;
use crate::http_server::response::refusal;
use crate::http_server::{Body, HttpComponent};

/// Serves a tower [`Service`] as an [`HttpComponent`]: route to it with
/// [`Router`](crate::Router), put decorators in front of it, or wrap windlass routes in
/// tower-http layers and serve the result.
///
/// The service is cloned per request (as hyper and axum do), so its `poll_ready` backpressure
/// applies per call. An error from the service is answered with 500.
///
/// ```
/// use std::convert::Infallible;
/// use windlass::{Body, HttpServer, Router, ServiceComponent};
/// use windlass::http::{Request, Response};
///
/// let hello = tower::service_fn(|_: Request<Body>| async {
///     Ok::<_, Infallible>(Response::new(Body::from("hello")))
/// });
/// let app = HttpServer::new(Router::new().route("/hello", ServiceComponent::new(hello)));
/// ```
#[derive(Clone)]
pub struct ServiceComponent<S> {
    service: S,
}

impl<S> ServiceComponent<S> {
    /// Serves `service`.
    pub fn new(service: S) -> Self {
        Self { service }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.service
    }
}

impl<S> fmt::Debug for ServiceComponent<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceComponent").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S, B> HttpComponent for ServiceComponent<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    async fn on_request(&self, request: Request<Body>) -> Response<Body> {
        let mut service = self.service.clone();
        let answer = async {
            poll_fn(|cx| service.poll_ready(cx)).await?;
            service.call(request).await
        };
        match answer.await {
            Ok(response) => response.map(Body::new),
            Err(e) => {
                let e: BoxError = e.into();
                tracing::warn!(error = %e, "service failed");
                refusal(StatusCode::INTERNAL_SERVER_ERROR, &[], "internal error")
            }
        }
    }
}

/// An [`HttpComponent`] as a tower [`Service`], for tower-http layers
/// (`CorsLayer::new().layer(ComponentService::new(component))`) and for axum
/// (`axum::Router::new().route_service("/chat", ComponentService::new(WsServer::new(chat)))`).
///
/// Requests with any body whose frames are [`Bytes`] are accepted (axum's included). A
/// [`WsServer`](crate::WsServer) served this way upgrades through the host server's own
/// upgrade (hyper's), so it works under axum unchanged.
pub struct ComponentService<H: ?Sized> {
    component: Arc<H>,
}

impl<H: HttpComponent> ComponentService<H> {
    /// Serves `component`.
    pub fn new(component: H) -> Self {
        Self { component: Arc::new(component) }
    }
}

impl<H: ?Sized> ComponentService<H> {
    /// Serves a component that is already shared.
    pub fn from_arc(component: Arc<H>) -> Self {
        Self { component }
    }
}

impl<H: ?Sized> Clone for ComponentService<H> {
    fn clone(&self) -> Self {
        Self { component: Arc::clone(&self.component) }
    }
}

impl<H: ?Sized> fmt::Debug for ComponentService<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComponentService").finish_non_exhaustive()
    }
}

impl<H, B> Service<Request<B>> for ComponentService<H>
where
    H: HttpComponent + ?Sized,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let component = Arc::clone(&self.component);
        Box::pin(async move { Ok(component.on_request(request.map(Body::new)).await) })
    }
}
