use std::{
    io,
    sync::{Arc, Mutex},
};

use super::*;

#[test]
fn a_terminal_gets_human_lines_and_anything_else_json() {
    assert_eq!(
        Format::choose(None, true),
        Ok(Format::Human { colour: true })
    );
    assert_eq!(Format::choose(None, false), Ok(Format::Json));
    assert_eq!(Format::choose(Some("auto"), false), Ok(Format::Json));
    assert_eq!(
        Format::choose(Some(""), true),
        Ok(Format::Human { colour: true })
    );
}

#[test]
fn the_setting_overrides_the_terminal() {
    assert_eq!(Format::choose(Some("json"), true), Ok(Format::Json));
    // Human lines asked for in a pipe or a file carry no colour codes.
    assert_eq!(
        Format::choose(Some("human"), false),
        Ok(Format::Human { colour: false })
    );
}

#[test]
fn an_unknown_format_is_refused_with_what_is_accepted() {
    let error = Format::choose(Some("xml"), true).expect_err("xml is no format");
    assert!(error.contains("WARREN_LOG_FORMAT"), "{error}");
    assert!(error.contains("json, human or auto"), "{error}");
}

#[test]
fn json_lines_are_one_per_event_with_the_span_fields_and_none_for_the_span() {
    let lines = logged(Format::Json);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line: serde_json::Value = serde_json::from_str(&lines[0]).expect("a JSON line");
    assert_eq!(line["msg"], "[REQUEST - EVENT] finished processing request");
    assert_eq!(line["route"], "/api/v1/things");
    assert_eq!(line["status"], 200);
}

#[test]
fn human_lines_are_one_per_event_with_the_span_fields() {
    let lines = logged(Format::Human { colour: false });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(!lines[0].starts_with('{'), "{}", lines[0]);
    assert!(
        lines[0].contains("finished processing request"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(r#"route="/api/v1/things""#),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("status=200"), "{}", lines[0]);
}

/// The lines a request's span with one event inside it writes in `format`.
fn logged(format: Format) -> Vec<String> {
    let sink = Captured::default();
    let subscriber = subscriber("test", "info", format, sink.clone());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::warn_span!("request", route = "/api/v1/things");
        let _entered = span.enter();
        tracing::warn!(status = 200, "finished processing request");
    });
    let text =
        String::from_utf8(sink.0.lock().expect("the sink lock").clone()).expect("UTF-8 lines");
    text.lines().map(str::to_owned).collect()
}

/// A sink that keeps what is written to it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .expect("the sink lock")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
