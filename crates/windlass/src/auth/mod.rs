//! `Authenticate`: checks each upgrade request before the handshake and attaches the caller's
//! identity to the connection (the successor of Ratchet's `SessionProvider`).

use std::future::Future;

use async_trait::async_trait;
use http::{Request, Response, StatusCode};

use crate::http_server::response::refusal;
use crate::http_server::{Body, HttpComponent};

/// A refused request: the status (usually 401 or 403), an optional body and extra headers
/// (such as `WWW-Authenticate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    body: String,
    headers: Vec<(String, String)>,
}

impl Rejection {
    /// 401 Unauthorized: no credentials, or unknown ones.
    pub fn unauthorized() -> Self {
        Self::with_status(StatusCode::UNAUTHORIZED)
    }

    /// 403 Forbidden: known caller, not allowed here.
    pub fn forbidden() -> Self {
        Self::with_status(StatusCode::FORBIDDEN)
    }

    /// Any status.
    pub fn with_status(status: StatusCode) -> Self {
        Self {
            status,
            body: status.canonical_reason().unwrap_or("refused").to_ascii_lowercase(),
            headers: Vec::new(),
        }
    }

    /// The response body (plain text).
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// Decides who may connect. Implement it for a type that holds what the check needs (a
/// session store, a key for tokens), or wrap a closure with [`auth_fn`].
pub trait Authenticator: Send + Sync + 'static {
    /// What a successful check yields; stored in the connection's extensions, where the
    /// component finds it with `conn.extensions().get::<Identity>()`.
    type Identity: Clone + Send + Sync + 'static;

    /// Checks the upgrade request: cookies, headers, a token in the query string.
    fn authenticate(
        &self,
        request: &Request<Body>,
    ) -> impl Future<Output = Result<Self::Identity, Rejection>> + Send;
}

/// An [`Authenticator`] from a synchronous closure.
#[derive(Clone, Debug)]
pub struct AuthFn<F>(F);

/// Wraps a closure as an [`Authenticator`].
pub fn auth_fn<F, T>(check: F) -> AuthFn<F>
where
    F: Fn(&Request<Body>) -> Result<T, Rejection> + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    AuthFn(check)
}

impl<F, T> Authenticator for AuthFn<F>
where
    F: Fn(&Request<Body>) -> Result<T, Rejection> + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    type Identity = T;

    fn authenticate(&self, request: &Request<Body>) -> impl Future<Output = Result<T, Rejection>> + Send {
        std::future::ready((self.0)(request))
    }
}

/// Wraps an [`HttpComponent`]: requests that `A` rejects get its status and never reach the
/// handshake; accepted ones carry `A::Identity` into the connection's extensions.
///
/// ```
/// use windlass::{auth_fn, Authenticate, HttpServer, Rejection, WsServer};
/// # use windlass::{BoxError, Connection, Message, MessageComponent};
/// # struct Chat;
/// # impl MessageComponent for Chat {
/// #     async fn on_message(&self, _: &mut Connection, _: Message) -> Result<(), BoxError> { Ok(()) }
/// # }
///
/// #[derive(Clone)]
/// struct User(String);
///
/// let app = HttpServer::new(Authenticate::new(
///     WsServer::new(Chat),
///     auth_fn(|request| {
///         let token = request.uri().query().and_then(|q| q.strip_prefix("token="));
///         match token {
///             Some("s3cret") => Ok(User("alice".into())),
///             Some(_) => Err(Rejection::forbidden().body("bad token")),
///             None => Err(Rejection::unauthorized().header("WWW-Authenticate", "Bearer")),
///         }
///     }),
/// ));
/// ```
#[derive(Debug, Clone)]
pub struct Authenticate<H, A> {
    inner: H,
    authenticator: A,
}

impl<H, A> Authenticate<H, A> {
    /// Checks every request to `inner` with `authenticator`.
    pub fn new(inner: H, authenticator: A) -> Self {
        Self { inner, authenticator }
    }

    /// The wrapped component.
    pub fn get_ref(&self) -> &H {
        &self.inner
    }
}

#[async_trait]
impl<H: HttpComponent, A: Authenticator> HttpComponent for Authenticate<H, A> {
    async fn on_request(&self, mut request: Request<Body>) -> Response<Body> {
        match self.authenticator.authenticate(&request).await {
            Ok(identity) => {
                request.extensions_mut().insert(identity);
                self.inner.on_request(request).await
            }
            Err(rejection) => {
                tracing::debug!(status = rejection.status.as_u16(), "authentication refused");
                let headers: Vec<(&str, &str)> =
                    rejection.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                refusal(rejection.status, &headers, &rejection.body)
            }
        }
    }
}
