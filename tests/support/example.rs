//! The example binaries, run as a user runs them: built by Cargo before the first use (a no-op
//! when they are up to date), started on port 0, found through their `listening on ADDR` line.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::WAIT;

/// A running example server, killed when dropped.
pub struct Example {
    pub child: Child,
    pub addr: SocketAddr,
    /// Kept open: the example's later writes to stdout would fail if nobody held the pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Example {
    /// Starts example `name` on an ephemeral port and waits for its `listening on ADDR` line.
    pub async fn start(name: &str, args: &[&str]) -> Self {
        Self::start_with_env(name, args, &[]).await
    }

    /// Starts example `name` with `env` added to its environment.
    pub async fn start_with_env(name: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let mut child = Command::new(example_binary(name))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start example {name}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        timeout(WAIT, stdout.read_line(&mut line))
            .await
            .unwrap_or_else(|_| panic!("{name} did not say where it listens"))
            .unwrap_or_else(|e| panic!("reading {name}'s stdout: {e}"));
        let addr: SocketAddr = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.strip_suffix('\n'))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("{name} printed {line:?}, not `listening on ADDR`"));
        assert!(
            addr.ip().is_loopback() && addr.port() != 0,
            "{name} is not listening on the address it bound: {addr}"
        );
        Self { child, addr, _stdout: stdout }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// A connected WebSocket client.
    pub async fn ws(&self) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(self.url()))
            .await
            .expect("WebSocket handshake timed out")
            .expect("WebSocket handshake failed");
        ws
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    #[cfg(unix)]
    pub async fn interrupt(&self) {
        let pid = self.child.id().expect("example still running");
        let status = Command::new("kill").args(["-INT", &pid.to_string()]).status().await.expect("run kill");
        assert!(status.success(), "kill -INT {pid} failed");
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Path of the example binary `name`.
pub fn example_binary(name: &str) -> PathBuf {
    let path = examples_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "example binary {} is missing", path.display());
    path
}

/// `target/<profile>/examples`, with the examples freshly built.
///
/// The test binary is `target/<profile>/deps/examples-<hash>` (or, cross-compiling,
/// `target/<triple>/<profile>/deps/…`); the examples are built into the same target
/// directory and profile. `cargo test --workspace` has built them already and the build is a
/// no-op, but `cargo test -p windlass-tests` has not, and neither notices edited examples.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("path of the test binary");
        let profile_dir =
            exe.parent().and_then(Path::parent).expect("the test binary lives in target/<profile>/deps");
        build_examples(profile_dir);
        profile_dir.join("examples")
    })
}

fn build_examples(profile_dir: &Path) {
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => panic!("unexpected target layout: {}", profile_dir.display()),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace");
    let mut build = std::process::Command::new(&cargo);
    build
        .current_dir(workspace)
        .args(["build", "--locked", "--examples", "-p", "windlass-examples"])
        .args(["--profile", profile]);
    // Cross-compiling puts `<triple>/` between the target directory and the profile. Cargo
    // marks the root of a target directory it creates with CACHEDIR.TAG (not one that already
    // existed, as `target/` does when `target/<elsewhere>` was built first), so the layout is
    // taken as cross-compiled only when the tag is one level further up.
    let target_dir = profile_dir.parent().expect("profile dir has a parent");
    match (target_dir.parent(), target_dir.file_name()) {
        (Some(root), Some(triple))
            if !target_dir.join("CACHEDIR.TAG").is_file() && root.join("CACHEDIR.TAG").is_file() =>
        {
            build.arg("--target-dir").arg(root).arg("--target").arg(triple);
        }
        _ => {
            build.arg("--target-dir").arg(target_dir);
        }
    }
    let output = build.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", cargo.to_string_lossy()));
    assert!(
        output.status.success(),
        "building the examples failed ({build:?}):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
