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
