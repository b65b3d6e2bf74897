//! Checking a JSON body in one pass, without building it.
//!
//! Ingest stores the body twice: the exact bytes, and parsed (`jsonb`) by PostgreSQL. What it
//! needs to know first is only whether PostgreSQL can take the text (valid JSON, no `\u0000`),
//! whether it nests too deep, and the top-level `type` (and `id`, a Stripe event's own id). A streaming pass answers all three
//! without allocating a tree, and the body's own text is what goes to PostgreSQL
//! ([`JsonbText`]): no second serialization, and numbers arrive exactly as sent.

use std::{cell::Cell, fmt};

use bytes::{BufMut, BytesMut};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use tokio_postgres::types::{IsNull, ToSql, Type, accepts, to_sql_checked};

use crate::error::{ApiError, Result};

/// What checking a JSON body found.
#[derive(Debug, PartialEq, Eq)]
pub struct Checked {
    /// The top-level object's `type`, when it is a string (the last one, if repeated).
    pub event_type: Option<String>,
    /// The top-level object's `id`, when it is a string (the last one, if repeated).
    pub id: Option<String>,
}

/// Checks that `body` is JSON that PostgreSQL's `jsonb` can store and that it nests at most
/// `max_depth` levels (the top value is level 1): 400 when it is not JSON or nests deeper,
/// 422 when a string or key holds `\u0000`.
pub fn check(body: &[u8], max_depth: usize) -> Result<Checked> {
    let refusal = Cell::new(None);
    let id = Cell::new(None);
    let level = Level {
        depth: 1,
        max_depth,
        keep: false,
        refusal: &refusal,
        id: &id,
    };
    let mut parser = serde_json::Deserializer::from_slice(body);
    let found = level
        .deserialize(&mut parser)
        .and_then(|found| parser.end().map(|()| found));
    match (found, refusal.get()) {
        (Ok(event_type), _) => Ok(Checked {
            event_type,
            id: id.take(),
        }),
        (Err(_), Some(Refusal::TooDeep)) => Err(ApiError::BadRequest(format!(
            "the JSON nests deeper than {max_depth} levels"
        ))),
        (Err(_), Some(Refusal::Nul)) => Err(nul_error()),
        (Err(e), None) => Err(ApiError::BadRequest(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// The error for a `\u0000`, which PostgreSQL's `jsonb` cannot store.
pub fn nul_error() -> ApiError {
    ApiError::Unprocessable("the JSON holds a \\u0000 character, which cannot be stored".into())
}

/// Checked JSON text, bound as `json` or `jsonb` as it is: PostgreSQL parses it once, and
/// nothing is built or printed again on the way.
#[derive(Debug)]
pub struct JsonbText<'a>(pub &'a [u8]);

impl ToSql for JsonbText<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // The binary format of `jsonb`: a version byte, then the text.
            out.put_u8(1);
        }
        out.put_slice(self.0);
        Ok(IsNull::No)
    }

    accepts!(JSON, JSONB);
    to_sql_checked!();
}

/// Why the pass stopped, when it was not the JSON's own syntax.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    TooDeep,
    Nul,
}

/// One value at `depth`. Its answer is the top-level `type`: an object at the top level
/// answers with its `type`'s, and a string read with `keep` (that `type`, or the top-level
/// `id`) with its text. The top-level `id` is left in `id`.
#[derive(Clone, Copy)]
struct Level<'r> {
    depth: usize,
    max_depth: usize,
    keep: bool,
    refusal: &'r Cell<Option<Refusal>>,
    id: &'r Cell<Option<String>>,
}

impl Level<'_> {
    fn refuse<E: de::Error>(self, why: Refusal) -> E {
        self.refusal.set(Some(why));
        E::custom("refused")
    }

    /// A value inside this one; `keep` for the top-level `type`.
    fn inner(self, keep: bool) -> Self {
        Self {
            depth: self.depth + 1,
            keep,
            ..self
        }
    }

    fn check_str<E: de::Error>(self, s: &str) -> std::result::Result<(), E> {
        if s.contains('\0') {
            return Err(self.refuse(Refusal::Nul));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Level<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        if self.depth > self.max_depth {
            return Err(self.refuse(Refusal::TooDeep));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
        self.check_str(s)?;
        Ok(self.keep.then(|| s.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut items: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while items.next_element_seed(self.inner(false))?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let top = self.depth == 1;
        let mut event_type = None;
        while let Some(key) = map.next_key_seed(Key(self))? {
            let wanted = top && key != Named::Other;
            let kept = map.next_value_seed(self.inner(wanted))?;
            match key {
                Named::Type if top => event_type = kept,
                Named::Id if top => self.id.set(kept),
                _ => {}
            }
        }
        Ok(event_type)
    }
}

/// The keys whose values the pass keeps (at the top level).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Named {
    Type,
    Id,
    Other,
}

/// A key of an object: checked like any string; the answer says which key it is.
struct Key<'r>(Level<'r>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Named;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Named, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Named;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Named, E> {
        self.0.check_str(s)?;
        Ok(match s {
            "type" => Named::Type,
            "id" => Named::Id,
            _ => Named::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(body: &str, max_depth: usize) -> Result<Checked> {
        check(body.as_bytes(), max_depth)
    }

    #[test]
    fn valid_json_passes_and_finds_the_top_level_type() {
        let found =
            checked(r#"{"type":"invoice.paid","data":{"type":"inner"}}"#, 64).expect("valid");
        assert_eq!(found.event_type.as_deref(), Some("invoice.paid"));
        assert_eq!(found.id, None);
        let stripe =
            checked(r#"{"id":"evt_1","data":{"id":"in_1"},"type":"t"}"#, 64).expect("valid");
        assert_eq!(stripe.id.as_deref(), Some("evt_1"), "the top-level id only");
        assert_eq!(
            checked(r#"{"id": 42}"#, 64).expect("valid").id,
            None,
            "an id that is not a string"
        );
        assert_eq!(
            checked("[1, 2.5, -3, true, null, \"x\"]", 64)
                .expect("valid")
                .event_type,
            None
        );
        assert_eq!(
            checked(r#"{"type": 7}"#, 64).expect("valid").event_type,
            None
        );
        assert_eq!(
            checked(r#"{"data": {"type": "inner"}}"#, 64)
                .expect("valid")
                .event_type,
            None
        );
    }

    #[test]
    fn a_repeated_type_key_counts_as_its_last_value_like_jsonb() {
        let last = checked(r#"{"type":"a","type":"b"}"#, 64).expect("valid");
        assert_eq!(last.event_type.as_deref(), Some("b"));
        let not_text = checked(r#"{"type":"a","type":1}"#, 64).expect("valid");
        assert_eq!(not_text.event_type, None);
    }

    #[test]
    fn what_is_not_json_is_a_bad_request() {
        for body in [
            "{oops",
            "",
            "{\"a\":1} trailing",
            "\"\\ud800\"",
            "[1,]",
            "{\"a\":1e999}",
        ] {
            assert!(
                matches!(checked(body, 64), Err(ApiError::BadRequest(_))),
                "{body:?}"
            );
        }
        let not_utf8 = b"{\"a\":\"\xff\"}";
        assert!(matches!(check(not_utf8, 64), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn json_deeper_than_the_limit_is_refused() {
        let deep = r#"{"a": {"b": {"c": [1]}}}"#;
        assert!(checked(deep, 5).is_ok());
        assert!(matches!(checked(deep, 4), Err(ApiError::BadRequest(m)) if m.contains("deeper")));
        assert!(
            matches!(checked(r#"{"type": [[1]]}"#, 2), Err(ApiError::BadRequest(m)) if m.contains("deeper"))
        );
        assert!(checked(r#"{"type": [1]}"#, 3).is_ok());
    }

    /// The pass accepts exactly what parsing into a `serde_json::Value` and walking it accepts
    /// (the way ingest checked bodies before), with the same `type` (the fuzz target
    /// `ingest_body` checks the same on arbitrary input).
    #[test]
    fn it_agrees_with_parsing_the_whole_tree() {
        let bodies = [
            r#"{"type":"a","n":[1,{"m":null}],"s":"\u00e9\n"}"#,
            r#"{"type":"x","type":{"y":1}}"#,
            r#"[[[[1]]]]"#,
            r#"[[[[[1]]]]]"#,
            r#"{"k":"\u0000"}"#,
            r#"{"a":1,}"#,
            r#"1e308"#,
            r#"-0"#,
            r#"  "text"  "#,
            r#"{"type":"\ud83d\ude00"}"#,
            r#"{"type":"\udead"}"#,
        ];
        for body in bodies {
            let tree = serde_json::from_slice::<serde_json::Value>(body.as_bytes())
                .map_err(|_| ())
                .and_then(|v| crate::ingest::check_json(&v, 4).map(|()| v).map_err(|_| ()));
            match (check(body.as_bytes(), 4), tree) {
                (Ok(found), Ok(value)) => assert_eq!(
                    found.event_type.as_deref(),
                    value.get("type").and_then(|t| t.as_str()),
                    "{body}"
                ),
                (Err(_), Err(())) => {}
                (mine, tree) => panic!("{body}: {mine:?} against {tree:?}"),
            }
        }
    }

    #[test]
    fn a_nul_anywhere_is_unprocessable() {
        for body in [
            r#"{"a": ["x\u0000"]}"#,
            r#"{"k\u0000": 1}"#,
            r#"{"type": "x\u0000"}"#,
            r#""\u0000""#,
        ] {
            assert!(
                matches!(checked(body, 64), Err(ApiError::Unprocessable(_))),
                "{body:?}"
            );
        }
    }
}
