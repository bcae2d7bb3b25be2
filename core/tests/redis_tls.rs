//! `rediss://`: TLS with rustls, the server's certificate checked against the
//! system's roots (here a test CA named by `SSL_CERT_FILE`, as an operator
//! adds a private CA).

mod support;

use std::process::Command;
use std::sync::Arc;

use loginguard::{Attempt, Guard, ManualClock, Policy};
use support::redis::{available, free_ports, on_redis, Server};

fn openssl(args: &[&str], dir: &std::path::Path) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs")
        .status
        .success();
    assert!(ok, "openssl {args:?}");
}

#[test]
fn a_rediss_url_talks_tls_and_checks_the_certificate() {
    if !available() || Command::new("openssl").arg("version").output().is_err() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lg-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=lg-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
        &dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        &dir,
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
        &dir,
    );
    let tls_port = free_ports(1);
    let path = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let server = Server::start_on(
        free_ports(1),
        &[
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &path("server.crt"),
            "--tls-key-file",
            &path("server.key"),
            "--tls-ca-cert-file",
            &path("ca.crt"),
            "--tls-auth-clients",
            "no",
        ],
    );
    // The only test in this binary: setting the environment races nothing.
    std::env::set_var("SSL_CERT_FILE", path("ca.crt"));
    let mut policy = Policy::default();
    on_redis(
        &mut policy,
        &format!("rediss://localhost:{tls_port}"),
        "tls",
    );
    let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
    let a = Attempt::new().account("kim").ip("192.0.2.5");
    assert_eq!(g.record_failure(&a).unwrap().failures, 1);
    assert!(
        server.keys("tls:*").len() >= 4,
        "the meta key and the counters are there"
    );
    // A certificate the roots do not vouch for: a store error at open.
    std::env::set_var("SSL_CERT_FILE", path("server.crt"));
    let mut policy = Policy::default();
    on_redis(
        &mut policy,
        &format!("rediss://localhost:{tls_port}"),
        "tls2",
    );
    assert!(Guard::with_clock(policy, Arc::new(ManualClock::new())).is_err());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
