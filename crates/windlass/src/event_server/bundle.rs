//! The browser client under the server's path (`/socket.io/socket.io.js`, `.min.js`,
//! `.esm.min.js`, `.msgpack.min.js` and their source maps), from the npm package
//! `socket.io-client` installed beside the application (see the README). Served as Node's
//! socket.io serves it: `ETag` of the package version, 304 for exactly that tag (or its weak
//! form), gzip when the client accepts it.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, HeaderValue, IF_NONE_MATCH,
};
use http::{Request, Response, StatusCode};

use super::engine::lock;
use crate::http_server::Body;

/// One file, read once, with its gzip form made at the first request that accepts it.
#[derive(Clone)]
struct File {
    plain: Bytes,
    gzip: Option<Bytes>,
}

struct Package {
    dir: PathBuf,
    etag: HeaderValue,
    weak_etag: HeaderValue,
    files: Mutex<HashMap<&'static str, Option<File>>>,
}

static PACKAGE: OnceLock<Option<Package>> = OnceLock::new();

/// The names served: Node's `/socket.io(.msgpack|.esm)?(.min)?.js(.map)?`, of the files the
/// package ships.
const NAMES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

/// Where `socket.io-client` is looked for: `$WINDLASS_SOCKET_IO_CLIENT`, then
/// `node_modules/socket.io-client` in the working directory and its parents.
fn package_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WINDLASS_SOCKET_IO_CLIENT") {
        return Some(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors().map(|dir| dir.join("node_modules/socket.io-client")).find(|dir| dir.join("dist").is_dir())
}

fn version_of(dir: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(dir.join("package.json")).ok()?;
    let value = windlass_sio_proto::Value::from_json(&manifest).ok()?;
    value.get("version")?.as_str().map(str::to_owned)
}

fn package() -> Option<&'static Package> {
    PACKAGE
        .get_or_init(|| {
            let found = package_dir().filter(|dir| dir.join("dist/socket.io.js").is_file());
            let Some(dir) = found else {
                tracing::warn!(
                    "the Socket.IO client bundle is not served: install it with `npm install socket.io-client` \
                     next to the application, or set WINDLASS_SOCKET_IO_CLIENT to its directory"
                );
                return None;
            };
            let version = version_of(&dir).unwrap_or_else(|| "unknown".to_owned());
            Some(Package {
                dir,
                etag: HeaderValue::from_str(&format!("\"{version}\"")).ok()?,
                weak_etag: HeaderValue::from_str(&format!("W/\"{version}\"")).ok()?,
                files: Mutex::new(HashMap::new()),
            })
        })
        .as_ref()
}

impl Package {
    fn file(&self, name: &'static str, gzip: bool) -> Option<Bytes> {
        let mut files = lock(&self.files);
        let entry = files.entry(name).or_insert_with(|| {
            let plain = std::fs::read(self.dir.join("dist").join(name)).ok()?;
            Some(File { plain: Bytes::from(plain), gzip: None })
        });
        let file = entry.as_mut()?;
        if !gzip {
            return Some(file.plain.clone());
        }
        if file.gzip.is_none() {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            let compressed = encoder.write_all(&file.plain).and_then(|()| encoder.finish()).ok()?;
            file.gzip = Some(Bytes::from(compressed));
        }
        file.gzip.clone()
    }
}

/// The answer for `name` under the server's path, if it names a bundle file.
pub(crate) fn serve<B>(name: &str, request: &Request<B>) -> Option<Response<Body>> {
    let name = *NAMES.iter().find(|n| **n == name)?;
    let package = package()?;
    // Node compares the header as a whole: one tag, strong or weak, not a list.
    let fresh = request
        .headers()
        .get(IF_NONE_MATCH)
        .is_some_and(|tag| tag == package.etag || tag == package.weak_etag);
    if fresh {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Some(response);
    }
    let gzip = request.headers().get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',').any(|c| c.split(';').next().is_some_and(|c| c.trim().eq_ignore_ascii_case("gzip")))
    });
    let body = package.file(name, gzip)?;
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    let kind = if Path::new(name).extension().is_some_and(|e| e.eq_ignore_ascii_case("map")) {
        "application/json; charset=utf-8"
    } else {
        "application/javascript; charset=utf-8"
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(ETAG, package.etag.clone());
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=0"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Some(response)
}
