//! Which address a request comes from when proxies stand in front of Tessera: the
//! connection's peer, unless it is one of the operator's `trusted_proxies`, in which case
//! `X-Forwarded-For` is read from the right, past every trusted hop. Rate limits and logs use
//! the result. Plain `std::net` types; the headers are read by `tessera-http`.

use std::net::IpAddr;

/// An address block, `ADDRESS/PREFIX` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(raw: &str) -> Option<Self> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let net: IpAddr = canonical(addr.trim().parse().ok()?);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Self { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 client on a dual-stack socket is one address, however it arrived.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses `ADDRESS/PREFIX` blocks; the error names the one that is not.
    pub fn parse(blocks: &[String]) -> Result<Self, String> {
        blocks
            .iter()
            .map(|b| {
                Cidr::parse(b).ok_or_else(|| {
                    format!("{b:?} is not an address or ADDRESS/PREFIX block like 10.0.0.0/8")
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address: `peer` if it is not trusted; else the right-most address of
    /// `forwarded_for` (the `X-Forwarded-For` lists, in order) that is not a trusted proxy.
    /// Entries left of an untrusted one could be made up by the client, so they are never
    /// read; an unreadable entry stops the walk at the last trusted hop.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for.iter().flat_map(|v| v.split(',')).rev();
        for hop in hops {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                return client;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(blocks: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&blocks.iter().map(|b| b.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn blocks_parse_and_match() {
        let t = trusted(&["10.0.0.0/8", "192.0.2.7", "fd00::/8"]);
        assert!(t.trusts(ip("10.200.1.1")));
        assert!(!t.trusts(ip("11.0.0.1")));
        assert!(t.trusts(ip("192.0.2.7")));
        assert!(!t.trusts(ip("192.0.2.8")));
        assert!(t.trusts(ip("fd12::1")));
        assert!(
            t.trusts(ip("::ffff:10.1.2.3")),
            "v4-mapped is the v4 address"
        );
        assert!(trusted(&["0.0.0.0/0"]).trusts(ip("203.0.113.1")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "localhost", "::/129"] {
            let err = TrustedProxies::parse(&[bad.to_string()]).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let t = trusted(&["10.0.0.0/8"]);
        // An untrusted peer's header is not read at all.
        assert_eq!(
            t.client_address(ip("203.0.113.5"), &["198.51.100.1"]),
            ip("203.0.113.5")
        );
        // Through two trusted hops; the spoofed left-most entry is never reached.
        assert_eq!(
            t.client_address(ip("10.0.0.2"), &["6.6.6.6, 198.51.100.1", "10.0.0.1"]),
            ip("198.51.100.1")
        );
        // No header, or only trusted hops: the last one seen.
        assert_eq!(t.client_address(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
        assert_eq!(
            t.client_address(ip("10.0.0.2"), &["10.0.0.1"]),
            ip("10.0.0.1")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            t.client_address(ip("10.0.0.2"), &["198.51.100.1, nonsense"]),
            ip("10.0.0.2")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.0.0.2"), &["1.2.3.4"]),
            ip("10.0.0.2")
        );
    }
}
