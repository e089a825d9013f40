//! Which addresses a webhook may reach. By default any (targets on loopback or a private
//! network are normal for self-hosted deployments); with `SUNBEAM_WEBHOOK_PUBLIC_ONLY` only
//! public ones. The check is made on the addresses actually connected to (a resolver that
//! drops non-public answers), so a name that re-resolves to a private address between a
//! check and the connection cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Is `ip` routable on the public internet?
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x64 && s[1] == 0xff9b && !is_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8)))
        || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0)) // IPv4-compatible (deprecated)
}

/// A literal IP host of a URL, if it has one.
pub fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Resolves names but keeps only public addresses (fails when none is left).
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address (SUNBEAM_WEBHOOK_PUBLIC_ONLY)").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// In public-only mode, a reason to refuse a target before trying it.
pub async fn refuse_reason(url: &url::Url) -> Option<String> {
    if let Some(ip) = literal_ip(url) {
        return (!is_public(ip)).then(|| format!("target address {ip} is not public (SUNBEAM_WEBHOOK_PUBLIC_ONLY)"));
    }
    let host = url.host_str()?;
    match tokio::net::lookup_host((host, url.port_or_known_default().unwrap_or(443))).await {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            (!addrs.is_empty() && addrs.iter().all(|a| !is_public(a.ip())))
                .then(|| format!("target {host} resolves only to non-public addresses (SUNBEAM_WEBHOOK_PUBLIC_ONLY)"))
        }
        // A resolution failure is a transport problem, retried like one.
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "224.0.0.1"] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn literal_private_targets_are_refused() {
        let u = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
        assert!(refuse_reason(&u).await.is_some());
        let u = url::Url::parse("http://[::1]:9/hook").unwrap();
        assert!(refuse_reason(&u).await.is_some());
    }
}
