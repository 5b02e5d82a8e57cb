//! Handshake authentication and trusted proxies, end to end.

mod support;

use tokio::io::AsyncWriteExt as _;
use windlass::{
    Authenticate, BoxError, Connection, HttpServer, Message, MessageComponent, Rejection, TrustedProxies,
    WsServer, auth_fn,
};

use support::{TestServer, read_frame, read_head, read_to_end, tcp, upgrade_request};

#[derive(Clone, Debug)]
struct User(String);

/// Greets each connection with who and where it is.
struct WhoAmI;

impl MessageComponent for WhoAmI {
    async fn on_open(&self, conn: &mut Connection) -> Result<(), BoxError> {
        let user = conn.extensions().get::<User>().map_or("anonymous".to_owned(), |u| u.0.clone());
        let greeting = format!("{user} from {}", conn.remote_addr().ip());
        conn.send(greeting)?;
        Ok(())
    }

    async fn on_message(&self, _: &mut Connection, _: Message) -> Result<(), BoxError> {
        Ok(())
    }
}

fn token_auth() -> impl windlass::Authenticator<Identity = User> {
    auth_fn(|request| match request.uri().query().and_then(|q| q.strip_prefix("token=")) {
        Some("s3cret") => Ok(User("alice".into())),
        Some(_) => Err(Rejection::forbidden().body("bad token")),
        None => Err(Rejection::unauthorized().header("WWW-Authenticate", "Bearer")),
    })
}

/// Upgrades and returns the text of the first message (which may arrive with the 101).
async fn greeting(server: &TestServer, path: &str, extra: &str) -> String {
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_request(path, extra).as_bytes()).await.unwrap();
    let (head, rest) = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let payload = if rest.is_empty() {
        read_frame(&mut stream).await.payload
    } else {
        assert_eq!((rest[0], usize::from(rest[1])), (0x81, rest.len() - 2), "one small text frame: {rest:?}");
        rest[2..].to_vec()
    };
    String::from_utf8(payload).unwrap()
}

async fn refused(server: &TestServer, path: &str) -> String {
    let mut stream = tcp(server.addr).await;
    stream.write_all(upgrade_request(path, "").as_bytes()).await.unwrap();
    let (head, body) = read_head(&mut stream).await;
    let mut body = String::from_utf8(body).unwrap();
    body.push_str(&String::from_utf8(read_to_end(&mut stream).await).unwrap());
    format!("{head}{body}")
}

#[tokio::test]
async fn missing_or_invalid_tokens_are_refused_and_a_valid_one_attaches_the_identity() {
    let server =
        TestServer::start(HttpServer::new(Authenticate::new(WsServer::new(WhoAmI), token_auth()))).await;
    assert_eq!(
        refused(&server, "/chat").await,
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\ncontent-type: text/plain; charset=utf-8\r\nwww-authenticate: Bearer\r\nconnection: close\r\n\r\nunauthorized\n"
    );
    assert_eq!(
        refused(&server, "/chat?token=guess").await,
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n\r\nbad token\n"
    );
    assert_eq!(greeting(&server, "/chat?token=s3cret", "").await, "alice from 127.0.0.1");
    server.stop().await;
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let extra = "X-Forwarded-For: 6.6.6.6, 198.51.100.7\r\n";
    for (trusted, expected) in [("127.0.0.1", "198.51.100.7"), ("10.0.0.0/8", "127.0.0.1")] {
        let app = HttpServer::new(TrustedProxies::new(WsServer::new(WhoAmI), [trusted]).unwrap());
        let server = TestServer::start(app).await;
        assert_eq!(
            greeting(&server, "/", extra).await,
            format!("anonymous from {expected}"),
            "trusting {trusted}"
        );
        server.stop().await;
    }
}
