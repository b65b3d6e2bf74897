//! The topology in RabbitMQ's definitions format (`rabbitmq/definitions.json`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Arg, Topology};

impl Topology {
    /// The topology in RabbitMQ's definitions format (what `rabbitmqctl export_definitions`
    /// writes and `load_definitions` reads), for one vhost.
    pub fn definitions(&self, vhost: &str) -> Value {
        let exchanges: Vec<Value> = self
            .exchanges()
            .iter()
            .map(|e| {
                json!({"name": e.name, "vhost": vhost, "type": e.kind.as_str(), "durable": true,
                       "auto_delete": false, "internal": false, "arguments": {}})
            })
            .collect();
        let queues: Vec<Value> = self
            .queues()
            .iter()
            .map(|q| {
                json!({"name": q.name, "vhost": vhost, "durable": true, "auto_delete": false,
                       "arguments": arguments_json(&q.arguments)})
            })
            .collect();
        let bindings: Vec<Value> = self
            .bindings()
            .iter()
            .map(|b| {
                json!({"source": b.exchange, "vhost": vhost, "destination": b.queue,
                       "destination_type": "queue", "routing_key": b.routing_key, "arguments": {}})
            })
            .collect();
        json!({
            "vhosts": [{"name": vhost}],
            "exchanges": exchanges,
            "queues": queues,
            "bindings": bindings,
        })
    }

    /// The definitions with a broker user for the services, allowed only Warren's names
    /// (and the live-log gateway's server-named queues): what `load_definitions` needs to
    /// bring up a blank broker, where RabbitMQ then creates no `guest`.
    pub fn definitions_with_user(&self, vhost: &str, user: &str, password: &str) -> Value {
        let mut definitions = self.definitions(vhost);
        let names = format!("^({}\\.|amq\\.gen-)", regex_escape(&self.prefix));
        definitions["users"] = json!([{
            "name": user,
            "password_hash": rabbit_password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": ["management"],
        }]);
        definitions["permissions"] = json!([{
            "user": user, "vhost": vhost, "configure": names, "write": names, "read": names,
        }]);
        definitions
    }
}

/// RabbitMQ's `rabbit_password_hashing_sha256`: base64 of a 4-byte salt followed by
/// SHA-256(salt ++ password). The salt is derived from the password, so the same password
/// always renders the same file (and the drift test can compare it).
fn rabbit_password_hash(password: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let seed = Sha256::digest(format!("warren:{password}").as_bytes());
    let salt = &seed[..4];
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(password.as_bytes());
    let mut salted = salt.to_vec();
    salted.extend_from_slice(&hasher.finalize());
    base64::engine::general_purpose::STANDARD.encode(salted)
}

/// Escapes the regex metacharacters of a name prefix.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' | '\\' => {
                vec!['\\', c]
            }
            c => vec![c],
        })
        .collect()
}

fn arguments_json(arguments: &BTreeMap<&'static str, Arg>) -> Value {
    let map = arguments
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Arg::Str(s) => json!(s),
                Arg::Int(i) => json!(i),
                Arg::Bool(b) => json!(b),
            };
            ((*k).to_owned(), value)
        })
        .collect();
    Value::Object(map)
}
