//! Checking host names and reading the region out of RDS and DSQL endpoint names.

use crate::error::{Error, ErrorKind};

/// DNS suffixes of the AWS partitions that host RDS endpoints, longest first.
const PARTITION_SUFFIXES: &[&str] = &[
    "amazonaws.com.cn", // aws-cn
    "amazonaws.com",    // aws, aws-us-gov
    "amazonaws.eu",     // aws-eusc
    "csp.hci.ic.gov",   // aws-iso-f
    "sc2s.sgov.gov",    // aws-iso-b
    "cloud.adc-e.uk",   // aws-iso-e
    "c2s.ic.gov",       // aws-iso
];

/// Checks that `hostname` is a bare DNS name or IPv4 address, as the signed `host` needs.
pub(crate) fn validate_hostname(hostname: &str) -> Result<(), Error> {
    let fail = |problem: &str| {
        Err(Error::new(
            ErrorKind::InvalidHostname,
            format!(
                "invalid hostname {hostname:?}: {problem}; give the bare endpoint name, \
                 e.g. \"mydb.abc123.us-east-1.rds.amazonaws.com\""
            ),
        ))
    };
    if hostname.is_empty() {
        return fail("it is empty");
    }
    if hostname.contains("://") {
        return fail("remove the scheme (such as \"postgres://\")");
    }
    if hostname.starts_with('/') {
        return fail(
            "it is a Unix-socket directory; IAM tokens go over TCP with TLS to the endpoint name",
        );
    }
    if hostname.contains('/') {
        return fail("remove the path");
    }
    let unbracketed = hostname
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(hostname);
    if unbracketed.parse::<std::net::Ipv6Addr>().is_ok() {
        return fail(
            "it is an IPv6 address, and RDS checks tokens against the endpoint name it \
             serves; sign for that name and connect to the address (sqlx-rds-iam: \
             `IamAuth::signing_host`)",
        );
    }
    if hostname.contains(':') {
        return fail("remove the port and pass it separately");
    }
    if hostname.len() > 253 {
        return fail("it is longer than 253 characters");
    }
    if let Some(bad) = hostname
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return fail(&format!(
            "{bad:?} is not allowed in a host name (letters, digits, '-', '_' and '.' only)"
        ));
    }
    if hostname.ends_with('.') && !hostname[..hostname.len() - 1].ends_with('.') {
        return fail(
            "remove the trailing dot: tokens are signed for the endpoint name as RDS \
             writes it, without the root label",
        );
    }
    if hostname.starts_with('.') || hostname.ends_with('.') || hostname.contains("..") {
        return fail("it has an empty label");
    }
    Ok(())
}

/// Checks an explicit region name: lowercase letters, digits and dashes.
pub(crate) fn validate_region(region: &str) -> Result<(), Error> {
    if is_region_name(region) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidRegion,
            format!("invalid region {region:?}: expected an AWS region name such as \"us-east-1\""),
        ))
    }
}

/// Reads the region from an RDS endpoint name (instance, cluster, reader, custom or proxy),
/// in any partition, including the `rds-fips` forms.
///
/// Returns `None` for names that are not RDS endpoints.
pub(crate) fn rds_region(hostname: &str) -> Option<&str> {
    let host = hostname.strip_suffix('.').unwrap_or(hostname);
    let (prefix, _suffix) = split_partition_suffix(host)?;
    let labels: Vec<&str> = prefix.split('.').collect();
    // `NAME.ID.REGION.rds.SUFFIX`, `NAME.ID.REGION.rds-fips.SUFFIX`
    // or `NAME.ID.rds-fips.REGION.SUFFIX`.
    match labels.as_slice() {
        [_, .., region, "rds" | "rds-fips"] | [_, .., "rds-fips", region]
            if is_region_name(region) =>
        {
            Some(region)
        }
        _ => None,
    }
}

/// Reads the region from an Aurora DSQL endpoint name (see [`DsqlEndpoint`] for the rules).
/// `hostname` must already be lowercase, as the signer keeps it.
///
/// Returns `None` for names that are not DSQL endpoints.
pub(crate) fn dsql_region(hostname: &str) -> Option<&str> {
    dsql_parts(hostname).map(|parts| parts.region)
}

/// The labels of a lowercase DSQL endpoint name.
struct DsqlParts<'a> {
    cluster_id: &'a str,
    fips: bool,
    region: &'a str,
}

/// Splits a lowercase name into `ID.dsql.REGION.on.aws` or `ID.dsql-fips.REGION.on.aws`
/// (a trailing dot allowed): exactly one label before `dsql`, nothing after `on.aws`.
fn dsql_parts(host: &str) -> Option<DsqlParts<'_>> {
    let host = host.strip_suffix('.').unwrap_or(host);
    let prefix = host.strip_suffix(".on.aws")?;
    let mut labels = prefix.split('.');
    let (Some(cluster_id), Some(service), Some(region), None) =
        (labels.next(), labels.next(), labels.next(), labels.next())
    else {
        return None;
    };
    let fips = match service {
        "dsql" => false,
        "dsql-fips" => true,
        _ => return None,
    };
    (is_cluster_id_label(cluster_id) && is_region_name(region)).then_some(DsqlParts {
        cluster_id,
        fips,
        region,
    })
}

/// One DNS label of lowercase letters, digits and dashes: what a DSQL cluster id is made of
/// (AWS's are 26 characters, but the name's shape, not its length, is what is checked).
fn is_cluster_id_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An Aurora DSQL cluster endpoint name: `ID.dsql.REGION.on.aws`, or
/// `ID.dsql-fips.REGION.on.aws` for the FIPS endpoint.
///
/// This is the one place the workspace tells a DSQL endpoint name from any other host: the
/// signer reads the region from it, and the sqlx adapter and the CLI use it to decide that
/// a host is DSQL. [`DsqlEndpoint::parse`] accepts exactly
/// - one label for the cluster id (letters, digits and dashes),
/// - then `dsql` or `dsql-fips`,
/// - then a region name (`us-east-1`, `us-gov-west-1`, ...),
/// - then `on.aws`,
///
/// in any letter case, with or without a trailing dot. It refuses extra labels before the
/// cluster id (`a.b.dsql.us-east-1.on.aws`), empty labels, anything after `on.aws`, and other
/// `on.aws` services (`ID.lambda-url.REGION.on.aws`).
///
/// # Example
///
/// ```
/// use rds_iam_token::DsqlEndpoint;
///
/// let endpoint = DsqlEndpoint::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZ.dsql.us-east-1.on.aws.").unwrap();
/// assert_eq!(endpoint.cluster_id(), "abcdefghijklmnopqrstuvwxyz");
/// assert_eq!(endpoint.region(), "us-east-1");
/// assert!(!endpoint.is_fips());
/// assert_eq!(endpoint.host(), "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws");
///
/// assert!(DsqlEndpoint::parse("a.b.dsql.us-east-1.on.aws").is_none());
/// assert!(DsqlEndpoint::parse("mydb.abc123.us-east-1.rds.amazonaws.com").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DsqlEndpoint {
    host: String,
    cluster_id: String,
    region: String,
    fips: bool,
}

impl DsqlEndpoint {
    /// Reads `host` as a DSQL cluster endpoint name; `None` when it is not one (see
    /// [`DsqlEndpoint`] for what is accepted).
    ///
    /// # Example
    ///
    /// ```
    /// use rds_iam_token::DsqlEndpoint;
    ///
    /// let fips = DsqlEndpoint::parse("abc123.DSQL-FIPS.us-west-2.on.aws").unwrap();
    /// assert!(fips.is_fips());
    /// assert_eq!(fips.host(), "abc123.dsql-fips.us-west-2.on.aws");
    ///
    /// for not_dsql in [
    ///     "dsql.us-east-1.on.aws",                  // no cluster id
    ///     "abc.dsql.us-east-1.on.aws.example.com",  // a suffix after on.aws
    ///     "abc.lambda-url.us-east-1.on.aws",        // another service
    ///     "localhost",
    /// ] {
    ///     assert!(DsqlEndpoint::parse(not_dsql).is_none(), "{not_dsql}");
    /// }
    /// ```
    pub fn parse(host: &str) -> Option<Self> {
        let lowercase = host.to_ascii_lowercase();
        let parts = dsql_parts(&lowercase)?;
        let (cluster_id, region, fips) = (
            parts.cluster_id.to_owned(),
            parts.region.to_owned(),
            parts.fips,
        );
        let mut host = lowercase;
        if host.ends_with('.') {
            host.pop();
        }
        Some(Self {
            host,
            cluster_id,
            region,
            fips,
        })
    }

    /// The endpoint name, lowercase and without a trailing dot: the name tokens are
    /// signed for.
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::DsqlEndpoint;
    /// let endpoint = DsqlEndpoint::parse("ABC.DSQL.EU-WEST-1.ON.AWS.").unwrap();
    /// assert_eq!(endpoint.host(), "abc.dsql.eu-west-1.on.aws");
    /// ```
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The cluster id (the first label), lowercase: the last part of the cluster ARN,
    /// `arn:aws:dsql:REGION:ACCOUNT:cluster/ID`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::DsqlEndpoint;
    /// let endpoint = DsqlEndpoint::parse("ABC123.dsql.us-east-1.on.aws").unwrap();
    /// assert_eq!(endpoint.cluster_id(), "abc123");
    /// ```
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The region in the name, lowercase: the region tokens for this endpoint are signed for.
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::DsqlEndpoint;
    /// let endpoint = DsqlEndpoint::parse("abc.dsql.ap-southeast-2.on.aws").unwrap();
    /// assert_eq!(endpoint.region(), "ap-southeast-2");
    /// ```
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Whether this is the FIPS endpoint (`ID.dsql-fips.REGION.on.aws`).
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::DsqlEndpoint;
    /// assert!(DsqlEndpoint::parse("abc.dsql-fips.us-east-1.on.aws").unwrap().is_fips());
    /// assert!(!DsqlEndpoint::parse("abc.dsql.us-east-1.on.aws").unwrap().is_fips());
    /// ```
    pub fn is_fips(&self) -> bool {
        self.fips
    }
}

fn split_partition_suffix(host: &str) -> Option<(&str, &str)> {
    PARTITION_SUFFIXES.iter().find_map(|suffix| {
        let prefix = host.strip_suffix(suffix)?.strip_suffix('.')?;
        Some((prefix, *suffix))
    })
}

/// `xx-name-N` or `xx-name-name-N`: two letters, one or more lowercase words, a number.
fn is_region_name(candidate: &str) -> bool {
    let mut parts = candidate.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    let Some((last, middle)) = rest.split_last() else {
        return false;
    };
    first.len() >= 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_region_from_rds_endpoints_of_every_partition() {
        let cases = [
            ("mydb.c9akciq32.us-east-1.rds.amazonaws.com", "us-east-1"),
            (
                "mycluster.cluster-c9akciq32.eu-west-3.rds.amazonaws.com",
                "eu-west-3",
            ),
            (
                "mycluster.cluster-ro-c9akciq32.ap-southeast-2.rds.amazonaws.com",
                "ap-southeast-2",
            ),
            (
                "myproxy.proxy-c9akciq32.us-west-2.rds.amazonaws.com",
                "us-west-2",
            ),
            (
                "mydb.c9akciq32.cn-northwest-1.rds.amazonaws.com.cn",
                "cn-northwest-1",
            ),
            (
                "mydb.c9akciq32.us-gov-west-1.rds.amazonaws.com",
                "us-gov-west-1",
            ),
            (
                "mydb.c9akciq32.us-iso-east-1.rds.c2s.ic.gov",
                "us-iso-east-1",
            ),
            (
                "mydb.c9akciq32.us-isob-east-1.rds.sc2s.sgov.gov",
                "us-isob-east-1",
            ),
            (
                "mydb.c9akciq32.eu-isoe-west-1.rds.cloud.adc-e.uk",
                "eu-isoe-west-1",
            ),
            (
                "mydb.c9akciq32.us-isof-south-1.rds.csp.hci.ic.gov",
                "us-isof-south-1",
            ),
            (
                "mydb.c9akciq32.eusc-de-east-1.rds.amazonaws.eu",
                "eusc-de-east-1",
            ),
            (
                "mydb.c9akciq32.rds-fips.us-gov-east-1.amazonaws.com",
                "us-gov-east-1",
            ),
            (
                "mydb.c9akciq32.us-east-2.rds-fips.amazonaws.com",
                "us-east-2",
            ),
            ("mydb.c9akciq32.us-east-1.rds.amazonaws.com.", "us-east-1"),
        ];
        for (host, region) in cases {
            assert_eq!(rds_region(host), Some(region), "{host}");
        }
    }

    #[test]
    fn custom_names_have_no_region() {
        for host in [
            "localhost",
            "127.0.0.1",
            "db.example.com",
            "rds.amazonaws.com",
            "us-east-1.rds.amazonaws.com",
            "mydb.c9akciq32.notaregion.rds.amazonaws.com",
            "mydb.us-east-1.rds.amazonaws.com.evil.example",
            "abc.dsql.us-east-1.on.aws",
        ] {
            assert_eq!(rds_region(host), None, "{host}");
        }
    }

    #[test]
    fn reads_region_from_dsql_endpoints() {
        assert_eq!(
            dsql_region("abcdefghijklmnopqrst.dsql.us-east-1.on.aws"),
            Some("us-east-1")
        );
        assert_eq!(
            dsql_region("abc.dsql-fips.us-west-2.on.aws"),
            Some("us-west-2")
        );
        assert_eq!(dsql_region("abc.dsql.eu-west-1.on.aws."), Some("eu-west-1"));
        assert_eq!(dsql_region("abc.dsql.on.aws"), None);
        assert_eq!(
            dsql_region("mydb.c9akciq32.us-east-1.rds.amazonaws.com"),
            None
        );
        // Settled (the token crate used to read a region here, the adapter and CLI did not).
        assert_eq!(dsql_region("a.b.dsql.us-east-1.on.aws"), None);
    }

    /// Every name the three former copies (token crate, sqlx adapter, CLI) tested, plus
    /// the edges they disagreed on.
    #[test]
    fn dsql_endpoint_names_accepted() {
        for (host, canonical, cluster_id, region, fips) in [
            (
                "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
                "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
                "abcdefghijklmnopqrstuvwxyz",
                "us-east-1",
                false,
            ),
            (
                "abcdefghijklmnopqrst.dsql.us-east-1.on.aws",
                "abcdefghijklmnopqrst.dsql.us-east-1.on.aws",
                "abcdefghijklmnopqrst",
                "us-east-1",
                false,
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ.DSQL.US-EAST-1.ON.AWS",
                "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
                "abcdefghijklmnopqrstuvwxyz",
                "us-east-1",
                false,
            ),
            (
                "abc.dsql-fips.us-west-2.on.aws",
                "abc.dsql-fips.us-west-2.on.aws",
                "abc",
                "us-west-2",
                true,
            ),
            (
                "abc.dsql-fips.us-east-1.on.aws",
                "abc.dsql-fips.us-east-1.on.aws",
                "abc",
                "us-east-1",
                true,
            ),
            (
                "abc.dsql.eu-west-1.on.aws.",
                "abc.dsql.eu-west-1.on.aws",
                "abc",
                "eu-west-1",
                false,
            ),
            (
                "ABC.DSQL.EU-WEST-1.ON.AWS.",
                "abc.dsql.eu-west-1.on.aws",
                "abc",
                "eu-west-1",
                false,
            ),
            (
                "ABC123.dsql.us-east-1.on.aws",
                "abc123.dsql.us-east-1.on.aws",
                "abc123",
                "us-east-1",
                false,
            ),
            (
                "4aabugk53f6nxpo5ma5ibpy3ki.DSQL-FIPS.us-gov-west-1.on.aws",
                "4aabugk53f6nxpo5ma5ibpy3ki.dsql-fips.us-gov-west-1.on.aws",
                "4aabugk53f6nxpo5ma5ibpy3ki",
                "us-gov-west-1",
                true,
            ),
        ] {
            let endpoint = DsqlEndpoint::parse(host).unwrap_or_else(|| panic!("{host}"));
            assert_eq!(endpoint.host(), canonical, "{host}");
            assert_eq!(endpoint.cluster_id(), cluster_id, "{host}");
            assert_eq!(endpoint.region(), region, "{host}");
            assert_eq!(endpoint.is_fips(), fips, "{host}");
            // The signer reads the same region from the lowercased name.
            assert_eq!(
                dsql_region(&host.to_ascii_lowercase()),
                Some(region),
                "{host}"
            );
        }
    }

    #[test]
    fn dsql_endpoint_names_refused() {
        for host in [
            // Not DSQL at all.
            "",
            ".",
            "localhost",
            "127.0.0.1",
            "on.aws",
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            "mydb.c9akciq32.us-east-1.rds.amazonaws.com",
            "abc.lambda-url.us-east-1.on.aws",
            "abc.dsqlx.us-east-1.on.aws",
            "abc.dsql.us-east-1.aws",
            "abc.dsql.us-east-1.on.aws.com",
            "abc.dsql.us-east-1on.aws",
            // A label missing or empty.
            "abc.dsql.on.aws",
            "dsql.us-east-1.on.aws",
            ".dsql.us-east-1.on.aws",
            "abc..dsql.us-east-1.on.aws",
            "abc.dsql..us-east-1.on.aws",
            "abc.dsql.us-east-1..on.aws",
            "abc.dsql.us-east-1.on.aws..",
            // Extra labels before the cluster id (the token crate used to accept these).
            "a.abc.dsql.us-east-1.on.aws",
            "a.b.dsql.us-east-1.on.aws",
            // A suffix after on.aws.
            "abc.dsql.us-east-1.on.aws.evil.example",
            "abc.dsql.us-east-1.on.aws.example.com",
            // A port, a scheme, characters a cluster id does not have, no region.
            "abc.dsql.us-east-1.on.aws:5432",
            "postgres://abc.dsql.us-east-1.on.aws",
            "a_b.dsql.us-east-1.on.aws",
            "a b.dsql.us-east-1.on.aws",
            "abc.dsql.notaregion.on.aws",
            "abc.dsql.us-east.on.aws",
        ] {
            assert_eq!(DsqlEndpoint::parse(host), None, "{host:?}");
            assert_eq!(dsql_region(&host.to_ascii_lowercase()), None, "{host:?}");
        }
    }

    #[test]
    fn rejects_hosts_that_are_not_bare_names() {
        for (host, hint) in [
            ("", "empty"),
            ("postgres://db.example.com", "scheme"),
            ("db.example.com/app", "path"),
            ("db.example.com:5432", "port"),
            ("db example.com", "not allowed"),
            ("db..example.com", "empty label"),
            ("[::1]", "IPv6"),
            ("db.example.com.", "trailing dot"),
        ] {
            let err = validate_hostname(host).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidHostname);
            let message = err.to_string();
            assert!(
                message.contains("hostname") && message.contains(hint),
                "{message}"
            );
        }
        validate_hostname("mydb.c9akciq32.us-east-1.rds.amazonaws.com").unwrap();
        validate_hostname("127.0.0.1").unwrap();
    }

    #[test]
    fn region_names() {
        for ok in ["us-east-1", "us-gov-west-1", "eusc-de-east-1", "cn-north-1"] {
            validate_region(ok).unwrap();
        }
        for bad in [
            "",
            "US-EAST-1",
            "us-east",
            "useast1",
            "us-east-1 ",
            "-east-1",
        ] {
            assert_eq!(
                validate_region(bad).unwrap_err().kind(),
                &ErrorKind::InvalidRegion,
                "{bad:?}"
            );
        }
    }
}
