//! Reading JSON text into a [`Json`] tree with its numbers exact (serde_json's own tree turns
//! them into `f64`, which would make `0.1` and `0.10000000000000000001` equal).

use std::collections::BTreeMap;

use super::{Json, Number};

/// Deepest nesting read; deeper text is refused (ingest refuses such bodies long before).
const MAX_DEPTH: usize = 512;

/// Reads one JSON value filling all of `text` (white space around it allowed); `None` when
/// `text` is not JSON.
pub fn parse(text: &[u8]) -> Option<Json> {
    let text = std::str::from_utf8(text).ok()?;
    let mut reader = Reader { text, at: 0 };
    let value = reader.value(0)?;
    reader.skip_blank();
    (reader.at == text.len()).then_some(value)
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Takes `byte` (after blanks), or fails.
    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_blank();
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        self.skip_blank();
        match self.peek()? {
            b'{' if depth < MAX_DEPTH => self.object(depth + 1),
            b'[' if depth < MAX_DEPTH => self.array(depth + 1),
            b'"' => self.string().map(Json::String),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Option<Json> {
        self.text[self.at..].starts_with(word).then(|| {
            self.at += word.len();
            value
        })
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.at;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at += 1;
        }
        Number::parse(&self.text[start..self.at]).map(Json::Number)
    }

    /// A string at a `"`: unescaped by serde_json when it holds escapes, copied otherwise.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        let bytes = self.text.as_bytes();
        let (mut end, mut escaped) = (start + 1, false);
        loop {
            match bytes.get(end)? {
                b'"' => break,
                b'\\' => (escaped, end) = (true, end + 2),
                _ => end += 1,
            }
        }
        self.at = end + 1;
        if escaped {
            serde_json::from_str(&self.text[start..=end]).ok()
        } else {
            Some(self.text[start + 1..end].to_owned())
        }
    }

    /// The items of an array or object, from its opening byte to `close`, each read by
    /// `item`.
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.at += 1;
        self.skip_blank();
        if self.peek() == Some(close) {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.skip_blank();
            match self.peek()? {
                b',' => self.at += 1,
                byte if byte == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Json> {
        let mut items = Vec::new();
        self.items(b']', |reader| {
            items.push(reader.value(depth)?);
            Some(())
        })?;
        Some(Json::Array(items))
    }

    fn object(&mut self, depth: usize) -> Option<Json> {
        let mut fields = BTreeMap::new();
        self.items(b'}', |reader| {
            reader.skip_blank();
            if reader.peek()? != b'"' {
                return None;
            }
            let key = reader.string()?;
            reader.expect(b':')?;
            // A repeated key keeps its last value, as `jsonb` does.
            fields.insert(key, reader.value(depth)?);
            Some(())
        })?;
        Some(Json::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_value_with_escapes_unescaped() {
        let read =
            parse(br#" {"a": [1, -2.5e3, true, false, null], "b\u00e9": "x\"y\n", "c": {}} "#);
        let Some(Json::Object(fields)) = read else {
            panic!("an object: {read:?}");
        };
        assert_eq!(fields["bé"], Json::String("x\"y\n".into()));
        assert_eq!(fields["c"], Json::Object(BTreeMap::new()));
        let Json::Array(items) = &fields["a"] else {
            panic!("an array");
        };
        assert_eq!(items.len(), 5);
        assert_eq!(
            items[1],
            Json::Number(Number::parse("-2500").expect("number"))
        );
    }

    #[test]
    fn text_that_is_not_json_is_refused() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\": 1,}",
            "tru",
            "\"open",
            "1 2",
            "{1: 2}",
            "[1}",
        ] {
            assert_eq!(parse(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn nesting_past_the_bound_is_refused() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(deep.as_bytes()), None);
        let fine = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(fine.as_bytes()).is_some());
    }
}
