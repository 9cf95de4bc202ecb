//! Tunnels and custom DNS names: which `signing_host` set-ups verified TLS can pass.
//!
//! sqlx verifies the server certificate against the host it connects to and has no
//! separate TLS server name (libpq's `hostaddr`). An RDS, Aurora or DSQL certificate
//! names the AWS endpoint, so connecting to `localhost` (a tunnel) or a custom DNS name
//! while signing for the endpoint can never pass verify-full against AWS's roots. What
//! works is connecting to the endpoint name itself, made to resolve to the tunnel.

use crate::error::Error;

/// The port Aurora DSQL endpoints listen on.
const DSQL_PORT: u16 = 5432;

/// Refuses, before any token is signed or sent, a `signing_host` that differs from the host
/// the pool connects to when only AWS's roots would verify that host's certificate.
///
/// Allowed: the same name (any letter case, a trailing dot); a CA of the user's own (a
/// proxy or test server whose certificate names the host connected to); insecure mode.
pub(crate) fn check_signing_host(
    connect_host: &str,
    signing_host: Option<&str>,
    signing_port: u16,
    user_roots: bool,
    insecure: bool,
    dsql: bool,
) -> Result<(), Error> {
    let Some(signing_host) = signing_host else {
        return Ok(());
    };
    if insecure || user_roots || same_host(connect_host, signing_host) {
        return Ok(());
    }
    let endpoint = signing_host.trim_end_matches('.').to_ascii_lowercase();
    let (remote_port, port_hint) = if dsql {
        // DSQL listens on 5432, and its tokens carry no port.
        (DSQL_PORT, String::new())
    } else {
        (
            signing_port,
            format!(
                ", with `IamAuth::signing_port({signing_port})` when the local port differs \
                 from the endpoint's"
            ),
        )
    };
    Err(Error::config(format!(
        "signing_host {endpoint:?} with a connection to {connect_host:?} cannot pass \
         verified TLS: sqlx checks the server certificate against the host it connects to, \
         and the AWS certificate names the endpoint, not {connect_host:?}; no token was \
         signed or sent. Connect to the endpoint name and make it resolve to your tunnel \
         instead: a hosts-file line `127.0.0.1 {endpoint}`, or SSM port forwarding to it \
         (`aws ssm start-session --document-name AWS-StartPortForwardingSessionToRemoteHost \
         --parameters host={endpoint},portNumber={remote_port},localPortNumber=LOCAL_PORT` \
         plus that hosts-file line), then connect to {endpoint}:LOCAL_PORT{port_hint}. If \
         {connect_host:?} serves a certificate of your own CA (a proxy), add that CA with \
         `IamAuth::add_root_certificates_file`"
    )))
}

/// Host names compare case-insensitively, and `name.` is `name`.
fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "mydb.abc123.us-east-1.rds.amazonaws.com";

    #[test]
    fn a_tunnel_on_localhost_is_refused_with_the_recipe() {
        let err = check_signing_host("localhost", Some(ENDPOINT), 5432, false, false, false)
            .unwrap_err()
            .to_string();
        for needed in [
            "127.0.0.1 mydb.abc123.us-east-1.rds.amazonaws.com",
            "AWS-StartPortForwardingSessionToRemoteHost",
            "host=mydb.abc123.us-east-1.rds.amazonaws.com,portNumber=5432",
            "signing_port(5432)",
            "no token was signed or sent",
            "add_root_certificates_file",
        ] {
            assert!(err.contains(needed), "{needed:?} missing from: {err}");
        }
        assert!(!err.contains("  "), "{err}");
    }

    #[test]
    fn dsql_has_no_port_to_sign() {
        let err = check_signing_host(
            "127.0.0.1",
            Some("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws"),
            15432,
            false,
            false,
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("signing_port"), "{err}");
        assert!(err.contains("portNumber=5432,"), "{err}");
        assert!(
            err.contains("127.0.0.1 abcdefghijklmnopqrstuvwxyz.dsql"),
            "{err}"
        );
    }

    #[test]
    fn what_can_pass_verified_tls_is_allowed() {
        // No signing host, the same name in another spelling, the user's own CA, insecure.
        assert!(check_signing_host("localhost", None, 5432, false, false, false).is_ok());
        let capitalised = "MyDB.ABC123.us-east-1.rds.amazonaws.com.";
        assert!(check_signing_host(capitalised, Some(ENDPOINT), 5432, false, false, false).is_ok());
        assert!(check_signing_host("localhost", Some(ENDPOINT), 5432, true, false, false).is_ok());
        assert!(check_signing_host("localhost", Some(ENDPOINT), 5432, false, true, false).is_ok());
    }
}
