//! Outbound HTTP to places a tenant chose (its model endpoint, its CRM webhook): one
//! URL policy, checked when the URL is configured and again on every call, and
//! response bodies read under a cap.
//!
//! The policy: `https` only; no credentials in the URL; no redirects; and no loopback,
//! private, link-local (the instance metadata service), shared, multicast or reserved
//! address, judged on the addresses DNS returns at connect time (a resolver in the
//! HTTP client checks them, so a name cannot pass the check and then resolve
//! elsewhere). A local stage may allow loopback, and plain `http` to it, explicitly.

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use url::{Host, Url};

/// Set to `true` only by the local stack and tests, whose fakes listen on loopback.
pub const ALLOW_LOOPBACK_ENV: &str = "OUTBOUND_ALLOW_LOOPBACK";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a valid absolute URL")]
    Invalid,
    #[error("only https URLs are allowed")]
    NotHttps,
    #[error("credentials in a URL are not allowed")]
    Credentials,
    #[error(
        "this address is not reachable from Sauda (loopback, private, link-local or reserved)"
    )]
    ForbiddenAddress,
}

impl UrlError {
    /// The stable code of a refused URL, for API and CLI answers.
    pub fn code(&self) -> &'static str {
        match self {
            UrlError::Invalid => "url_invalid",
            UrlError::NotHttps => "url_not_https",
            UrlError::Credentials => "url_has_credentials",
            UrlError::ForbiddenAddress => "url_forbidden_address",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_loopback: bool,
}

fn v4_public(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..=127).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..=19).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn v6_public(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_public(v4);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) embeds an IPv4 address.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        let [a, b] = seg[6].to_be_bytes();
        let [c, d] = seg[7].to_be_bytes();
        return v4_public(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is the metadata service)
        || (seg[0] & 0xffc0) == 0xfe80 // link-local
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || seg[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible and other ::/96 forms
}

impl UrlPolicy {
    /// From `OUTBOUND_ALLOW_LOOPBACK`; anything but `true` keeps loopback closed.
    pub fn from_env() -> Self {
        Self {
            allow_loopback: std::env::var(ALLOW_LOOPBACK_ENV).is_ok_and(|v| v == "true"),
        }
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        if ip.is_loopback() {
            return self.allow_loopback;
        }
        match ip {
            IpAddr::V4(v4) => v4_public(v4),
            IpAddr::V6(v6) => v6_public(v6),
        }
    }

    fn is_loopback_host(host: &Host<&str>) -> bool {
        match host {
            Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost")
            }
            Host::Ipv4(ip) => ip.is_loopback(),
            Host::Ipv6(ip) => ip.is_loopback(),
        }
    }

    /// The checks that need no DNS: scheme, credentials and literal addresses.
    pub fn check(&self, raw: &str) -> Result<Url, UrlError> {
        let url = Url::parse(raw.trim()).map_err(|_| UrlError::Invalid)?;
        let host = url.host().ok_or(UrlError::Invalid)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let loopback = Self::is_loopback_host(&host);
        match url.scheme() {
            "https" => {}
            "http" if loopback && self.allow_loopback => {}
            _ => return Err(UrlError::NotHttps),
        }
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        };
        if loopback && !self.allow_loopback {
            return Err(UrlError::ForbiddenAddress);
        }
        if literal.is_some_and(|ip| !self.allows_ip(ip)) {
            return Err(UrlError::ForbiddenAddress);
        }
        Ok(url)
    }

    /// An HTTP client for tenant-chosen URLs: the policy's resolver, no redirects, no proxy.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(PolicyResolver { policy: *self })
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .build()
            .expect("a client with rustls and a resolver always builds")
    }
}

/// Resolves with the system resolver, then refuses the name if any address is not
/// allowed (all or nothing, so one public answer cannot smuggle a private one).
struct PolicyResolver {
    policy: UrlPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() || addrs.iter().any(|a| !policy.allows_ip(a.ip())) {
                return Err(Box::new(UrlError::ForbiddenAddress)
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the response body exceeds {0} bytes")]
    TooLarge(usize),
    #[error("reading the response body failed: {0}")]
    Read(String),
}

/// Reads a response body, refusing it once it passes `max` bytes (whatever its
/// `Content-Length` claims), so a hostile or broken server cannot exhaust memory.
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > max as u64)
    {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        // Without the URL: a Bot API URL carries the token.
        .map_err(|e| BodyError::Read(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_urls_pass() {
        let p = UrlPolicy::default();
        assert!(p.check("https://api.openai.com/v1").is_ok());
        assert!(p.check("https://crm.example.kz/hook?x=1").is_ok());
        for (raw, why) in [
            ("http://api.openai.com/v1", UrlError::NotHttps),
            ("ftp://example.com", UrlError::NotHttps),
            ("https://user:pw@example.com", UrlError::Credentials),
            ("https://127.0.0.1/", UrlError::ForbiddenAddress),
            (
                "https://localhost:9001/2018-06-01/runtime",
                UrlError::ForbiddenAddress,
            ),
            (
                "https://169.254.169.254/latest/meta-data",
                UrlError::ForbiddenAddress,
            ),
            ("https://10.0.0.5/", UrlError::ForbiddenAddress),
            ("https://172.16.3.4/", UrlError::ForbiddenAddress),
            ("https://192.168.1.1/", UrlError::ForbiddenAddress),
            ("https://100.64.0.1/", UrlError::ForbiddenAddress),
            ("https://0.0.0.0/", UrlError::ForbiddenAddress),
            ("https://[::1]/", UrlError::ForbiddenAddress),
            ("https://[fd00:ec2::254]/", UrlError::ForbiddenAddress),
            ("https://[fe80::1]/", UrlError::ForbiddenAddress),
            (
                "https://[::ffff:169.254.169.254]/",
                UrlError::ForbiddenAddress,
            ),
            ("https://[64:ff9b::a00:1]/", UrlError::ForbiddenAddress),
            ("not a url", UrlError::Invalid),
        ] {
            assert_eq!(p.check(raw).unwrap_err(), why, "{raw}");
        }
    }

    #[test]
    fn a_local_stage_may_open_loopback_only() {
        let local = UrlPolicy {
            allow_loopback: true,
        };
        assert!(local.check("http://127.0.0.1:9100/llm").is_ok());
        assert!(local.check("http://localhost:9100/crm").is_ok());
        assert_eq!(
            local.check("http://10.0.0.1/").unwrap_err(),
            UrlError::NotHttps
        );
        assert_eq!(
            local.check("https://169.254.169.254/").unwrap_err(),
            UrlError::ForbiddenAddress
        );
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let resolver = PolicyResolver {
            policy: UrlPolicy::default(),
        };
        let refused = resolver.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err(), "localhost resolves to loopback");
        let open = PolicyResolver {
            policy: UrlPolicy {
                allow_loopback: true,
            },
        };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
