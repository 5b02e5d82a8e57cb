//! The architecture as a test: each module of `crates/windlass` imports only modules of lower
//! layers, so imports run one way and no two modules depend on each other. A new module must
//! be given its layer here (see docs/ARCHITECTURE.md, "Modules").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may import from the layers below its own, never from its own layer
/// or above.
const LAYERS: &[&[&str]] = &[
    // Leaves: error types, messages, hot-path metric recording.
    &["error", "message", "stats"],
    // The accept loop: sockets, TLS, connection ids, the registry of open connections.
    &["io_server"],
    // A session: the outbound queue and its budget, handles, extensions, ids.
    &["session"],
    // What users implement (components) and HTTP/1.1 on a connection.
    &["component", "http_server"],
    // Transports driving sessions; HTTP components and decorators.
    &["transport", "plain", "blacklist", "service", "router", "origin", "auth"],
    // Servers built on a transport, and what builds on the decorators.
    &["line_server", "ws_server", "pool", "proxy", "metrics"],
    // The event layer: Engine.IO sessions over HttpServer and WsServer, Socket.IO above.
    &["event_server"],
    // The facade.
    &["app"],
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/windlass/src")
}

/// Every `.rs` file of a module (its file, or everything under its folder).
fn files(module: &Path) -> Vec<PathBuf> {
    if module.is_file() {
        return vec![module.to_owned()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(module).unwrap() {
        out.extend(files(&entry.unwrap().path()));
    }
    out
}

/// Top-level module → the top-level modules it names as `crate::name`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        let mut uses = BTreeSet::new();
        for file in files(&path) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                !text.contains("crate::{"),
                "{}: name modules one per path, not `crate::{{..}}`",
                file.display()
            );
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let named: String =
                    rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !named.is_empty() && named != name {
                    uses.insert(named);
                }
            }
        }
        graph.insert(name, uses);
    }
    graph
}

#[test]
fn imports_run_down_the_layers_only() {
    let layer_of: BTreeMap<&str, usize> =
        LAYERS.iter().enumerate().flat_map(|(i, layer)| layer.iter().map(move |m| (*m, i))).collect();
    let graph = imports();
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        let Some(&own) = layer_of.get(module.as_str()) else {
            wrong.push(format!("module `{module}` has no layer in tests/architecture.rs"));
            continue;
        };
        for used in uses {
            match layer_of.get(used.as_str()) {
                Some(&layer) if layer < own => {}
                Some(_) => {
                    wrong.push(format!("`{module}` (layer {own}) imports `{used}`, which is not below it"));
                }
                None => wrong.push(format!("`{module}` imports `{used}`, which has no layer")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every listed module exists, so the list cannot drift from the code.
    for module in layer_of.keys() {
        assert!(graph.contains_key(*module), "layer list names `{module}`, which is not a module");
    }
}
