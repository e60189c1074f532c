//! Webhook URLs are chosen by clinic admins, and the service sends signed requests to them from
//! inside its own network: without a guard, an admin account (or whoever holds one) could make
//! the service call its database, a cloud metadata endpoint or an intranet page (server-side
//! request forgery) and read ports from the delivery log. Every address a webhook could reach
//! is classified here: at registration (an IP literal, or every address a name resolves to) and
//! at delivery, where [`PublicOnly`] resolves names for the HTTP client and hands it only public
//! addresses, so a name that changes its answer between the check and the connection (DNS
//! rebinding) still reaches nothing inside.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use url::{Host, Url};

/// The one reason given for a refused target, wherever it is shown or logged: it never says
/// what a name resolved to, nor anything a connection attempt would have revealed.
pub const REFUSED: &str =
    "the target address is not allowed (loopback, private and other internal addresses are refused)";

/// How long registration waits for a name to resolve before leaving the check to delivery.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// The delivery's target is inside the network: no request was made.
#[derive(Debug, thiserror::Error)]
#[error("{REFUSED}")]
pub struct TargetRefused;

/// Whether `ip` must never be a webhook target: loopback, private, link-local, unique-local,
/// unspecified, multicast, broadcast, shared (CGNAT), documentation, benchmarking and reserved
/// ranges, and every IPv6 form that embeds such an IPv4 address (mapped, compatible, NAT64,
/// 6to4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_internal(v4),
        IpAddr::V6(v6) => v6_internal(v6),
    }
}

fn v4_internal(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network", 0.0.0.0/8
        || (a == 100 && (b & 0xc0) == 64) // shared address space (CGNAT), 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0.0/24
        || (a == 198 && (b & 0xfe) == 18) // benchmarking, 198.18.0.0/15
        || a >= 240 // reserved, 240.0.0.0/4
}

fn v6_internal(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return v4_internal(v4);
    }
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation, 2001:db8::/32
        || (s[0] == 0x2001 && s[1] == 0) // Teredo, 2001::/32 (tunnels to any IPv4 address)
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64, 64:ff9b:1::/48
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only, 100::/64
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d` (not `::` or `::1`), NAT64 `64:ff9b::a.b.c.d` and 6to4 `2002:aabb:ccdd::`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let (s, o) = (ip.segments(), ip.octets());
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(low);
    }
    if s[..6] == [0x0064, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Names that mean this machine whatever DNS says (RFC 6761).
fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// What a URL's host is, for the checks: an address (the `url` crate has already read `127.1`,
/// `2130706433` and `0x7f000001` as `127.0.0.1`) or a name to resolve.
enum Target<'a> {
    Address(IpAddr),
    Name(&'a str),
}

fn target(url: &Url) -> Option<Target<'_>> {
    match url.host()? {
        Host::Ipv4(ip) => Some(Target::Address(IpAddr::V4(ip))),
        Host::Ipv6(ip) => Some(Target::Address(IpAddr::V6(ip))),
        Host::Domain(name) => Some(Target::Name(name)),
    }
}

/// At delivery, before any request: refuses an IP-literal host inside the network (the HTTP
/// client connects to a literal without resolving it). Names are resolved by [`PublicOnly`].
pub fn check_literal(url: &Url) -> Result<(), TargetRefused> {
    match target(url) {
        Some(Target::Address(ip)) if is_internal(ip) => Err(TargetRefused),
        None => Err(TargetRefused),
        _ => Ok(()),
    }
}

/// At registration: [`check_literal`], a `localhost` name, then every address the host's name
/// resolves to. A name that does not resolve now (not yet registered, DNS down) is accepted:
/// delivery checks again, on the addresses it actually connects to.
pub async fn check_registration(url: &Url) -> Result<(), TargetRefused> {
    check_literal(url)?;
    let Some(Target::Name(name)) = target(url) else { return Ok(()) };
    if is_local_name(name) {
        return Err(TargetRefused);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let Ok(Ok(mut addrs)) = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port))).await else {
        return Ok(());
    };
    if addrs.any(|a| is_internal(a.ip())) { Err(TargetRefused) } else { Ok(()) }
}

/// The webhook client's resolver: the system resolver's answer with every internal address
/// removed; a name left with none fails with [`TargetRefused`] and nothing is connected.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err(Box::new(TargetRefused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether a failed request was refused by [`PublicOnly`] (anywhere in its chain of causes).
pub fn was_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<TargetRefused>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(raw: &str) -> Result<(), TargetRefused> {
        check_literal(&Url::parse(raw).unwrap())
    }

    #[test]
    fn every_spelling_of_an_internal_address_in_a_url_is_refused() {
        for raw in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.0.0.2:8080/x",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://10.0.0.1/",
            "http://10.255.255.255/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fe80::1]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::]/",
            "http://224.0.0.1/",
            "http://[ff02::1]/",
            "http://255.255.255.255/",
            "http://100.64.0.1/",
        ] {
            assert!(host_of(raw).is_err(), "{raw} must be refused");
        }
    }

    #[test]
    fn public_addresses_and_names_pass_the_literal_check() {
        for raw in [
            "https://93.184.215.14/",
            "https://1.1.1.1/",
            "https://172.32.0.1/",
            "https://192.169.0.1/",
            "https://[2606:4700:4700::1111]/",
            "https://[::ffff:8.8.8.8]/",
            "https://crm.example-clinic.com/hooks",
            "https://localhost.example.com/",
            "http://localhost/",
        ] {
            assert!(host_of(raw).is_ok(), "{raw} is public");
        }
    }

    #[test]
    fn the_edges_of_the_private_ranges_are_exact() {
        let internal = |s: &str| is_internal(s.parse().unwrap());
        assert!(internal("172.16.0.0") && internal("172.31.255.255"));
        assert!(!internal("172.15.255.255") && !internal("172.32.0.0"));
        assert!(internal("100.127.255.255") && !internal("100.128.0.0") && !internal("100.63.255.255"));
        assert!(internal("fdff:ffff::1") && !internal("fe00::1"));
        assert!(internal("febf::1") && !internal("2001:4860::8888"));
    }

    #[tokio::test]
    async fn registration_refuses_a_name_that_resolves_inside() {
        for raw in ["http://localhost:9/x", "http://LOCALHOST./", "http://api.localhost/", "http://[::1]/"] {
            assert!(check_registration(&Url::parse(raw).unwrap()).await.is_err(), "{raw}");
        }
        // A name that does not resolve is left to the delivery-time check.
        assert!(check_registration(&Url::parse("https://crm.example/hooks").unwrap()).await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_hands_out_no_internal_address() {
        use reqwest::dns::Resolve;
        for host in ["localhost", "127.0.0.1", "::1", "10.1.2.3"] {
            let name: reqwest::dns::Name = host.parse().unwrap();
            let err = PublicOnly.resolve(name).await.err().unwrap();
            assert!(was_refused(err.as_ref()), "{host}");
        }
        let public: reqwest::dns::Name = "93.184.215.14".parse().unwrap();
        assert_eq!(PublicOnly.resolve(public).await.unwrap().count(), 1);
    }
}
