//! Throw-away TLS certificates for tests, made with the `openssl` command (Debian's
//! `openssl` package; `.ci/run` installs it): a CA and a server certificate it signed for
//! `127.0.0.1` and `localhost`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files of one test PKI.
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// Server certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// Server private key (PEM, PKCS#8).
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Make a CA and a server certificate in `dir`, file names prefixed with `name`.
pub fn make_test_certs(dir: &Path, name: &str) -> TestCerts {
    let f = |s: &str| format!("{name}-{s}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &f("ca.key"),
            "-out",
            &f("ca.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=rmq test CA {name}"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &f("key.pem"),
            "-out",
            &f("server.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join(f("ext.cnf")),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &f("server.csr"),
            "-CA",
            &f("ca.pem"),
            "-CAkey",
            &f("ca.key"),
            "-CAcreateserial",
            "-out",
            &f("cert.pem"),
            "-days",
            "2",
            "-extfile",
            &f("ext.cnf"),
        ],
    );
    TestCerts {
        ca: dir.join(f("ca.pem")),
        cert: dir.join(f("cert.pem")),
        key: dir.join(f("key.pem")),
    }
}
