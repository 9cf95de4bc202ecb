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

/// Reads the region from an Aurora DSQL endpoint name: `ID.dsql.REGION.on.aws`
/// (or `ID.dsql-fips.REGION.on.aws`).
///
/// Returns `None` for names that are not DSQL endpoints.
pub(crate) fn dsql_region(hostname: &str) -> Option<&str> {
    let host = hostname.strip_suffix('.').unwrap_or(hostname);
    let prefix = host.strip_suffix(".on.aws")?;
    let labels: Vec<&str> = prefix.split('.').collect();
    match labels.as_slice() {
        [_, .., "dsql" | "dsql-fips", region] if is_region_name(region) => Some(region),
        _ => None,
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
        assert_eq!(dsql_region("abc.dsql.on.aws"), None);
        assert_eq!(
            dsql_region("mydb.c9akciq32.us-east-1.rds.amazonaws.com"),
            None
        );
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
