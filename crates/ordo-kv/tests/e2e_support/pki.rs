//! A cluster PKI made by `ordo cert`, as the README shows it, and the peer
//! TLS flags of `ordo serve` that use it.

use std::path::Path;
use std::time::Duration;

use super::run_ordo;

/// How long one `ordo cert` may take.
const CLI_PATIENCE: Duration = Duration::from_secs(20);

/// `ordo cert ca`, then `ordo cert node` for each of `ids` of `cluster`
/// (hosts 127.0.0.1 and localhost), into `dir`.
pub async fn make_pki(dir: &Path, cluster: &str, ids: &[u64]) {
    let dir = dir.to_str().unwrap();
    let made = run_ordo(&["cert", "ca", "--out", dir], CLI_PATIENCE).await;
    assert_eq!(made.code, Some(0), "{made}");
    for id in ids {
        let id = id.to_string();
        let args = [
            "cert",
            "node",
            "--id",
            &id,
            "--cluster",
            cluster,
            "--host",
            "127.0.0.1",
            "--host",
            "localhost",
            "--out",
            dir,
        ];
        let made = run_ordo(&args, CLI_PATIENCE).await;
        assert_eq!(made.code, Some(0), "{made}");
        assert!(made.stdout.contains("--peer-cert"), "{made}");
    }
}

/// The peer TLS flags for a node holding node `holder`'s certificate.
pub fn tls_flags(pki: &Path, holder: u64) -> Vec<String> {
    let file = |name: String| pki.join(name).to_str().unwrap().to_owned();
    vec![
        "--peer-cert".to_owned(),
        file(format!("node-{holder}.crt")),
        "--peer-key".to_owned(),
        file(format!("node-{holder}.key")),
        "--peer-trusted-ca".to_owned(),
        file("ca.crt".to_owned()),
    ]
}
