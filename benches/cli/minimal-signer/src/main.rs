//! `minimal-signer HOST PORT USER REGION`: one RDS token from AWS_ACCESS_KEY_ID,
//! AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) at the current time, and nothing else.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use rds_iam_token::AuthTokenSigner;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, region] = &args[..] else {
        eprintln!("usage: minimal-signer HOST PORT USER REGION");
        std::process::exit(2);
    };
    let env = |name: &str| std::env::var(name).ok();
    let credentials = Credentials::new(
        env("AWS_ACCESS_KEY_ID").expect("AWS_ACCESS_KEY_ID"),
        env("AWS_SECRET_ACCESS_KEY").expect("AWS_SECRET_ACCESS_KEY"),
        env("AWS_SESSION_TOKEN"),
        None,
        "environment",
    );
    let signer = AuthTokenSigner::rds(host.as_str(), port.parse().expect("port"), user.as_str())
        .region(region.clone())
        .credentials_provider(credentials.clone())
        .build()
        .expect("signer");
    let token = signer.sign_with(&credentials, SystemTime::now()).expect("token");
    println!("{}", token.expose());
}
