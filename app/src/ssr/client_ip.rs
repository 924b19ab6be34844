//! The client's address for per-client limits (logins, study joins). Behind a reverse proxy every
//! request comes from the proxy; the client is then in `X-Forwarded-For`, which only a proxy the
//! operator named (`serve --trusted-proxy`) may set: from anyone else it is ignored (a client
//! could otherwise pick a fresh address per request).
use std::net::IpAddr;

use axum::http::HeaderMap;

/// The client of a request that arrived from `peer`: `peer` itself, or when `peer` is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not a trusted proxy (entries to its
/// left were written by the client and prove nothing).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(|h| h.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.2".parse().unwrap(),
        );
        let proxies = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &proxies), ip("1.2.3.4"));
        assert_eq!(
            client_ip(ip("9.9.9.9"), &h, &proxies),
            ip("9.9.9.9"),
            "untrusted peer"
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &h, &[]),
            ip("10.0.0.1"),
            "no proxies"
        );
        assert_eq!(
            client_ip(ip("10.0.0.1"), &HeaderMap::new(), &proxies),
            ip("10.0.0.1"),
            "no header"
        );
    }
}
