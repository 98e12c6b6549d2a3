//! TLS modes against the test PostgreSQL (started by scripts/test without TLS): `disable`
//! and `prefer` connect in clear text, `require` and `verify-full` refuse a server that
//! offers no TLS, and a missing CA file is a configuration error naming the file.

use bak2pg::Step;
use bak2pg::target::Target;

async fn ssl_in_use(url: &str) -> Result<bool, String> {
    let t = Target::parse(url).map_err(|e| e.to_string())?;
    let c = t.connect(Step::Preflight, "postgres").await.map_err(|e| e.to_string())?;
    let row = c
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

fn with(mode: &str) -> String {
    let url = crate::common::pg_url();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode={mode}")
}

#[tokio::test]
async fn disable_and_prefer_connect_to_a_server_without_tls() {
    assert_eq!(ssl_in_use(&with("disable")).await, Ok(false));
    assert_eq!(ssl_in_use(&with("prefer")).await, Ok(false));
    assert_eq!(ssl_in_use(&crate::common::pg_url()).await, Ok(false), "prefer is the default");
}

#[tokio::test]
async fn require_and_verify_full_refuse_a_server_without_tls() {
    for mode in ["require", "verify-full"] {
        let e = ssl_in_use(&with(mode)).await.unwrap_err();
        assert!(e.contains("cannot connect"), "{mode}: {e}");
    }
}

#[tokio::test]
async fn a_missing_ca_file_is_a_configuration_error() {
    let e = Target::parse(&format!("{}&sslrootcert=/nonexistent/rds.pem", with("verify-full"))).unwrap_err();
    assert_eq!(e.kind, bak2pg::ErrorKind::Config);
    assert!(e.to_string().contains("/nonexistent/rds.pem"), "{e}");
}
