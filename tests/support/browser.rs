//! Headless Chromium through npm `playwright-core` in `tests/browser`: where the scripts live,
//! and whether the machine can run them.

use std::path::Path;

/// `tests/browser`, where the scripts and their `node_modules` live.
pub fn browser_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/browser"))
}

/// Whether Chromium, Node and playwright-core are installed; if not, what is missing.
pub fn browser_ready() -> Result<(), String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&chromium).is_file() {
        return Err(format!("{chromium} is missing (apt-get install chromium)"));
    }
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Err("node is missing".to_owned());
    }
    if !browser_dir().join("node_modules/playwright-core").is_dir() {
        return Err("playwright-core is missing (npm ci --prefix tests/browser)".to_owned());
    }
    Ok(())
}

/// Runs the script `script` of `tests/browser` with `args` (the pages' URLs), waiting at most
/// 120 s; its stdout (one line per step), after asserting it exited 0.
pub async fn run_script(script: &str, args: &[String]) -> String {
    let run = tokio::process::Command::new("node")
        .arg(browser_dir().join(script))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the browser test hung")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser test {script} failed:\n{stdout}\n{stderr}");
    stdout
}
