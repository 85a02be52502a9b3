//! Which addresses a fetch may connect to: public ones, and those inside networks the operator
//! names (`FETCH_ALLOWED_NETWORKS`: an on-premises PBX, a test server). Everything a request
//! from inside the cloud could reach but the internet cannot is refused by default: loopback,
//! private, link-local (the instance metadata service), shared, multicast and reserved ranges.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// `10.0.0.0/8, 192.168.1.7/32`: commas or spaces between; a bare address is its own /32 or /128.
pub fn parse_networks(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not a network (CIDR such as 10.1.0.0/16) or an address"))
        })
        .collect()
}

/// Why `addr` is not public, or `None` when it is.
pub fn not_public(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_range(v4),
            None => v6_range(v6),
        },
    }
}

fn v4_range(a: Ipv4Addr) -> Option<&'static str> {
    let [o1, o2, o3, _] = a.octets();
    Some(match () {
        _ if a.is_loopback() => "loopback",
        _ if a.is_unspecified() || o1 == 0 => "this-network",
        _ if a.is_private() => "private",
        _ if a.is_link_local() => "link-local (instance metadata)",
        _ if o1 == 100 && (64..128).contains(&o2) => "shared address space (carrier NAT)",
        _ if o1 == 192 && o2 == 0 && o3 == 0 => "IETF protocol assignments",
        _ if o1 == 198 && (18..20).contains(&o2) => "benchmarking",
        _ if a.is_multicast() => "multicast",
        _ if o1 >= 240 => "reserved",
        _ if a.is_documentation() => "documentation",
        _ => return None,
    })
}

fn v6_range(a: Ipv6Addr) -> Option<&'static str> {
    let first = a.segments()[0];
    Some(match () {
        _ if a.is_loopback() => "loopback",
        _ if a.is_unspecified() => "unspecified",
        _ if first & 0xfe00 == 0xfc00 => "unique local (private)",
        _ if first & 0xffc0 == 0xfe80 => "link-local",
        _ if a.is_multicast() => "multicast",
        _ if first == 0x2001 && a.segments()[1] == 0x0db8 => "documentation",
        // NAT64 and 6to4 carry an IPv4 address that could be a private one.
        _ if first == 0x0064 && a.segments()[1] == 0xff9b => "NAT64",
        _ if first == 0x2002 => "6to4",
        _ => return None,
    })
}

/// Whether a fetch may connect to `addr`: inside an allowed network, or public (and then only
/// over https, so `plain_http` asks for the allowed networks alone).
pub fn check(addr: IpAddr, allowed: &[IpNet], plain_http: bool) -> Result<(), String> {
    if allowed.iter().any(|n| n.contains(&addr)) {
        return Ok(());
    }
    if let Some(range) = not_public(addr) {
        return Err(format!("{addr} is a {range} address, outside FETCH_ALLOWED_NETWORKS"));
    }
    if plain_http {
        return Err(format!(
            "plain http only reaches hosts in FETCH_ALLOWED_NETWORKS, and {addr} is not in one"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn what_the_internet_cannot_reach_is_refused_unless_named() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.0.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(check(ip(refused), &[], false).is_err(), "{refused} must be refused");
        }
        for public in ["8.8.8.8", "52.94.236.248", "2606:4700::1111", "::ffff:8.8.4.4"] {
            assert_eq!(check(ip(public), &[], false), Ok(()), "{public}");
        }
        let pbx = parse_networks("10.20.0.0/16, 127.0.0.1").unwrap();
        assert_eq!(check(ip("10.20.3.4"), &pbx, true), Ok(()), "an on-premises PBX, even over http");
        assert_eq!(check(ip("127.0.0.1"), &pbx, false), Ok(()));
        assert!(check(ip("10.21.0.1"), &pbx, false).is_err(), "only the named network");
        let http = check(ip("8.8.8.8"), &pbx, true).unwrap_err();
        assert!(http.contains("plain http"), "{http}");
        assert!(parse_networks("10.0.0.0/33").is_err() && parse_networks("pbx").is_err());
        assert!(parse_networks("").unwrap().is_empty());
    }
}
