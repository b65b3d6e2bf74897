//! `AMQP_URL`, which may list several nodes of one RabbitMQ cluster:
//! `amqp://user:pass@host1:5672,host2:5672/vhost?query` (or `amqps://`). Every node shares the
//! scheme, credentials, vhost and query; the URL is split into one URL per node, each parsed
//! as the broker client would, so a bad URL is refused at start-up rather than at each
//! reconnect. No error names the credentials.

use std::str::FromStr;

use lapin::uri::AMQPUri;

/// Why `AMQP_URL` was refused. The messages name the part that is wrong, never the URL
/// (it may carry a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerUrlError {
    /// Neither `amqp://` nor `amqps://`.
    #[error("AMQP_URL must start with amqp:// or amqps://")]
    Scheme,
    /// No host at all, or an empty entry between commas.
    #[error("AMQP_URL's node {0} has no host (list nodes as host1:5672,host2:5672)")]
    EmptyHost(usize),
    /// A port that is not a number from 1 to 65535.
    #[error("AMQP_URL's node {0} has a port that is not a number from 1 to 65535")]
    Port(usize),
    /// A node's URL the URL parser refused (a space, a bad escape, a bracketless IPv6 host).
    #[error("AMQP_URL's node {node} is not a valid URL: {reason}")]
    Invalid {
        /// The node's position in the list, from 1.
        node: usize,
        /// The URL parser's reason (it never quotes the input).
        reason: url::ParseError,
    },
    /// The query holds a value the broker client refuses (`heartbeat=abc`, an unknown
    /// `auth_mechanism`).
    #[error(
        "AMQP_URL's query is not valid (heartbeat, frame_max, channel_max, connection_timeout \
         take integers; auth_mechanism plain, amqplain, external, anonymous, rabbit-cr-demo)"
    )]
    Query,
}

/// `AMQP_URL` split into its nodes, in the order it lists them.
#[derive(Debug, Clone)]
pub struct BrokerUrl {
    nodes: Vec<AMQPUri>,
}

impl FromStr for BrokerUrl {
    type Err = BrokerUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = url
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "amqp" | "amqps"))
            .ok_or(BrokerUrlError::Scheme)?;
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let nodes = hosts
            .split(',')
            .enumerate()
            .map(|(index, host)| {
                let node = index + 1;
                check_host(host, node)?;
                let single = match userinfo {
                    Some(userinfo) => format!("{scheme}://{userinfo}@{host}{tail}"),
                    None => format!("{scheme}://{host}{tail}"),
                };
                let parsed = url::Url::parse(&single)
                    .map_err(|reason| BrokerUrlError::Invalid { node, reason })?;
                let mut uri = AMQPUri::from_str(&single).map_err(|_| BrokerUrlError::Query)?;
                // The broker client reads only a domain and takes an IPv6 literal for
                // `localhost`.
                if let Some(url::Host::Ipv6(address)) = parsed.host() {
                    uri.authority.host = address.to_string();
                }
                Ok(uri)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { nodes })
    }
}

/// Refuses an empty host and a port out of range, which the URL parser would report in
/// words that do not say which node.
fn check_host(host: &str, node: usize) -> Result<(), BrokerUrlError> {
    let port = match host.rsplit_once(':') {
        // An IPv6 literal without a port ends with `]`.
        Some((name, port)) if !port.ends_with(']') => {
            if name.is_empty() {
                return Err(BrokerUrlError::EmptyHost(node));
            }
            Some(port)
        }
        _ => None,
    };
    if host.is_empty() {
        return Err(BrokerUrlError::EmptyHost(node));
    }
    match port.map(u16::from_str) {
        Some(Ok(0) | Err(_)) => Err(BrokerUrlError::Port(node)),
        _ => Ok(()),
    }
}

impl BrokerUrl {
    /// Each node's URL, in the order `AMQP_URL` lists them.
    pub fn nodes(&self) -> &[AMQPUri] {
        &self.nodes
    }

    /// The vhost (the same on every node).
    pub fn vhost(&self) -> &str {
        &self.first().vhost
    }

    /// The user name (AMQP's default `guest` when the URL names none).
    pub fn username(&self) -> &str {
        &self.first().authority.userinfo.username
    }

    /// The password (AMQP's default `guest` when the URL names none). Never log it.
    pub fn password(&self) -> &str {
        &self.first().authority.userinfo.password
    }

    fn first(&self) -> &AMQPUri {
        // Parsing refuses a URL without a node (an empty host list is one empty host).
        &self.nodes[0]
    }
}

/// Where a node is, for logs: `host:port`, never the credentials.
pub fn node_name(node: &AMQPUri) -> String {
    let host = &node.authority.host;
    if host.contains(':') {
        format!("[{host}]:{}", node.authority.port)
    } else {
        format!("{host}:{}", node.authority.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<BrokerUrl, BrokerUrlError> {
        url.parse()
    }

    #[test]
    fn a_single_node_url_keeps_its_credentials_vhost_port_and_query() {
        let url =
            parse("amqp://alice:s%40cret@rabbit.internal:5673/prod?heartbeat=7").expect("works");
        assert_eq!(url.nodes().len(), 1);
        let node = &url.nodes()[0];
        assert_eq!(node_name(node), "rabbit.internal:5673");
        assert_eq!(node.query.heartbeat, Some(7));
        assert_eq!(url.vhost(), "prod");
        assert_eq!(url.username(), "alice");
        assert_eq!(url.password(), "s@cret");
    }

    #[test]
    fn every_listed_node_shares_the_credentials_vhost_and_query() {
        let url =
            parse("amqps://bob:pw@10.0.0.1:5671,10.0.0.2,[::1]:5681/%2f?connection_timeout=900")
                .expect("works");
        let names: Vec<String> = url.nodes().iter().map(node_name).collect();
        assert_eq!(names, ["10.0.0.1:5671", "10.0.0.2:5671", "[::1]:5681"]);
        for node in url.nodes() {
            assert_eq!(node.authority.userinfo.username, "bob");
            assert_eq!(node.authority.userinfo.password, "pw");
            assert_eq!(node.vhost, "/");
            assert_eq!(node.query.connection_timeout, Some(900));
            assert_eq!(node.scheme, lapin::uri::AMQPScheme::AMQPS);
        }
    }

    #[test]
    fn without_credentials_or_vhost_the_amqp_defaults_apply() {
        let url = parse("amqp://h1:5672,h2:5673").expect("works");
        assert_eq!(url.nodes().len(), 2);
        assert_eq!(url.username(), "guest");
        assert_eq!(url.password(), "guest");
        assert_eq!(url.vhost(), "/");
        assert_eq!(node_name(&url.nodes()[1]), "h2:5673");
    }

    #[test]
    fn bad_forms_are_refused_with_a_message_that_names_no_secret() {
        let cases = [
            ("http://h1:5672", BrokerUrlError::Scheme),
            ("h1:5672", BrokerUrlError::Scheme),
            ("amqp://u:hunter2@/vhost", BrokerUrlError::EmptyHost(1)),
            (
                "amqp://u:hunter2@h1:5672,,h3:5672/v",
                BrokerUrlError::EmptyHost(2),
            ),
            (
                "amqp://u:hunter2@h1:5672,:5672/v",
                BrokerUrlError::EmptyHost(2),
            ),
            (
                "amqp://u:hunter2@h1:5672,h2:99999/v",
                BrokerUrlError::Port(2),
            ),
            ("amqp://u:hunter2@h1:0/v", BrokerUrlError::Port(1)),
            ("amqp://u:hunter2@h1:abc/v", BrokerUrlError::Port(1)),
            (
                "amqp://u:hunter2@h1/v?heartbeat=soon",
                BrokerUrlError::Query,
            ),
        ];
        for (url, expected) in cases {
            let error = parse(url).expect_err("refused");
            assert_eq!(error, expected, "{url}");
            assert!(!error.to_string().contains("hunter2"), "{url}");
        }
        let invalid = parse("amqp://u:hunter2@h 1:5672/v").expect_err("refused");
        assert!(matches!(invalid, BrokerUrlError::Invalid { node: 1, .. }));
        assert!(!invalid.to_string().contains("hunter2"));
    }
}
