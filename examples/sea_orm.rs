//! A SeaORM 2 `DatabaseConnection` built from an IAM-authenticated sqlx `PgPool`: the
//! pool (and so every new connection's fresh token) stays the adapter's, SeaORM runs its
//! queries through it.
//!
//! ```text
//! DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app \
//!     cargo run -p rds-iam-examples --example sea_orm
//! ```
//!
//! SeaORM 2 uses sqlx 0.9, the version the adapter extends, so the pool passes over as
//! it is (`SqlxPostgresConnector::from_sqlx_postgres_pool`); SeaORM's own
//! `Database::connect(url)` would open a pool without IAM. The example creates its table
//! if it is missing (standing in for your migrations; see `migrate.rs`), adds two rows if
//! they are not there, reads them through the entity, and inserts a row in a
//! transaction that it rolls back.
//!
//! Environment: `DATABASE_URL` (endpoint, port, user, database; no password);
//! credentials and region from the standard AWS chain; optional `RDS_IAM_CA_FILE` (an
//! extra CA to trust) and `RDS_IAM_SIGNING_HOST` (the RDS endpoint to sign for when
//! connecting to a proxy whose certificate that CA signs; for a tunnel, put the endpoint
//! name in `DATABASE_URL` and make it resolve to the tunnel).
//!
//! To copy this file into your project, it needs (`Cargo.toml`; SeaORM without its
//! default features, which add JSON, chrono, decimal, UUID and time support):
//!
//! ```toml
//! [dependencies]
//! aws-config = { version = "1.13", default-features = false, features = ["behavior-version-latest", "default-https-client", "rt-tokio", "credentials-process", "sso"] }
//! sea-orm = { version = "2.0.4", default-features = false, features = ["sqlx-postgres", "runtime-tokio", "macros"] }
//! sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio", "tls-rustls-ring-webpki"] }
//! sqlx-rds-iam = { version = "0.1", default-features = false, features = ["postgres"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```

use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, Schema, SqlxPostgresConnector, TransactionTrait,
};
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt};

/// The entity: one table, `examples_fruit` (the `examples_` prefix keeps it apart from
/// anything else in the database).
mod fruit {
    use sea_orm::entity::prelude::*;

    /// A row of `examples_fruit`.
    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "examples_fruit")]
    pub(crate) struct Model {
        /// Assigned by the database.
        #[sea_orm(primary_key)]
        pub(crate) id: i32,
        /// Unique, so that adding the same fruit twice is a no-op.
        #[sea_orm(unique)]
        pub(crate) name: String,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        "set DATABASE_URL, e.g. DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app"
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .iam_auth(iam_auth_from_env().await?)
        .connect(&url)
        .await?;
    // The pool is a cheap handle: keep a clone to close it (which stops token refresh).
    let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());

    // The table, if it is missing (your migrations would do this).
    let create = Schema::new(db.get_database_backend())
        .create_table_from_entity(fruit::Entity)
        .if_not_exists()
        .to_owned();
    db.execute(&create).await?;

    // Two rows, unless they are there already.
    for name in ["apple", "pear"] {
        let exists = fruit::Entity::find()
            .filter(fruit::Column::Name.eq(name))
            .one(&db)
            .await?
            .is_some();
        if !exists {
            fruit::ActiveModel {
                name: ActiveValue::Set(name.to_owned()),
                ..Default::default()
            }
            .insert(&db)
            .await?;
        }
    }

    let fruits = fruit::Entity::find()
        .order_by_asc(fruit::Column::Name)
        .all(&db)
        .await?;
    let names: Vec<&str> = fruits.iter().map(|f| f.name.as_str()).collect();
    println!("fruits (SeaORM over an IAM pool): {}", names.join(", "));

    // A transaction runs on one of the pool's connections, like any other query.
    let txn = db.begin().await?;
    let plum = fruit::ActiveModel {
        name: ActiveValue::Set("plum".to_owned()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    println!(
        "inserted {} with id {} in a transaction",
        plum.name, plum.id
    );
    txn.rollback().await?;
    let kept = fruit::Entity::find()
        .filter(fruit::Column::Name.eq("plum"))
        .one(&db)
        .await?;
    println!(
        "after rollback, plum is {}",
        if kept.is_some() {
            "still there"
        } else {
            "gone"
        }
    );

    pool.close().await;
    Ok(())
}

/// IAM settings: credentials and region from the standard AWS chain, plus the optional
/// `RDS_IAM_CA_FILE` and `RDS_IAM_SIGNING_HOST`.
async fn iam_auth_from_env() -> Result<IamAuth, sqlx_rds_iam::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut auth = IamAuth::from_sdk_config(&sdk);
    if let Ok(ca_file) = std::env::var("RDS_IAM_CA_FILE") {
        auth = auth.add_root_certificates_file(ca_file)?;
    }
    if let Ok(host) = std::env::var("RDS_IAM_SIGNING_HOST") {
        auth = auth.signing_host(host);
    }
    Ok(auth)
}
