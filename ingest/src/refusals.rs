//! What the HTTP layer refuses on its own, answered as `application/problem+json` like every
//! other error.
//!
//! Two places answer without a handler's [`ApiError`]: axum and tower-http (a method the web
//! app's files do not take, an extractor's rejection), whose answers [`problem_body`] rewrites;
//! and hyper itself, which answers a request it cannot read (`400` for a malformed head,
//! `414` for a URI over its limit, `431` for too many or too large headers) with a bare head
//! before any service sees the request. `serve::serve` wraps each connection in a
//! [`ProblemIo`], which recognises those
//! heads as hyper writes them and send a problem body with them.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ApiError, PROBLEM_JSON};

/// A response layer (`axum::middleware::map_response`): an error answer that is not
/// problem+json (an empty, plain-text or HTML body) becomes the problem of its status; its
/// other headers (`Allow`, `Retry-After`) stay.
pub async fn problem_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let problem = ApiError::from_status(status).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, problem.into_body())
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(PROBLEM_JSON))
}

/// A connection that writes through, except hyper's bare error heads, which it writes with
/// a problem body (reporting hyper's bytes written once all of its own are).
pub struct ProblemIo<S> {
    inner: S,
    rewrite: Option<Rewrite>,
}

/// An answer written in place of hyper's head.
struct Rewrite {
    bytes: Vec<u8>,
    written: usize,
    /// How many of hyper's bytes it stands for.
    replaces: usize,
}

impl<S> ProblemIo<S> {
    /// Wraps a connection.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rewrite: None,
        }
    }
}

impl<S: AsyncWrite + Unpin> ProblemIo<S> {
    /// Writes the rewritten answer out; ready with hyper's length once all of it is.
    fn poll_rewrite(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(rewrite) = self.rewrite.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while rewrite.written < rewrite.bytes.len() {
            let out = &rewrite.bytes[rewrite.written..];
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            rewrite.written += n;
        }
        let replaces = rewrite.replaces;
        self.rewrite = None;
        Poll::Ready(Ok(replaces))
    }

    /// Starts a rewrite when `buf` is one of hyper's bare error heads.
    fn intercepts(&mut self, buf: &[u8]) -> bool {
        if self.rewrite.is_none()
            && let Some(bytes) = with_problem_body(buf)
        {
            self.rewrite = Some(Rewrite {
                bytes,
                written: 0,
                replaces: buf.len(),
            });
        }
        self.rewrite.is_some()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.intercepts(buf) {
            return this.poll_rewrite(cx);
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|buf| !buf.is_empty());
        if first.is_some_and(|buf| this.intercepts(buf)) {
            return this.poll_rewrite(cx);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// hyper's answer to a request it could not read, with a problem body: `written` must be
/// exactly a 4xx head with `content-length: 0` and no content type (as hyper writes it,
/// alone, before closing the connection); anything else is `None`.
fn with_problem_body(written: &[u8]) -> Option<Vec<u8>> {
    let head = written.strip_suffix(b"\r\n\r\n")?;
    let status_line = head.strip_prefix(b"HTTP/1.1 ")?;
    let status = StatusCode::from_bytes(status_line.get(..3)?).ok()?;
    let lines: Vec<&[u8]> = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .collect();
    let is_header = |line: &[u8], name: &str| {
        line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
            && line[name.len()] == b':'
    };
    let bare = lines[1..]
        .iter()
        .any(|line| is_header(line, "content-length") && line.trim_ascii().ends_with(b": 0"))
        && !lines.iter().any(|line| is_header(line, "content-type"));
    if !status.is_client_error() || !bare || lines.iter().any(|line| line.trim_ascii().is_empty()) {
        return None;
    }
    let (_, problem) = ApiError::from_status(status).problem();
    let body = serde_json::to_vec(&problem).ok()?;
    let mut answer = Vec::with_capacity(head.len() + body.len() + 64);
    for line in lines
        .iter()
        .filter(|line| !is_header(line, "content-length"))
    {
        answer.extend_from_slice(line);
        answer.extend_from_slice(b"\r\n");
    }
    // No layer sees this answer, so it carries here what every answer carries.
    answer.extend_from_slice(
        format!(
            "content-type: {PROBLEM_JSON}\r\nx-content-type-options: nosniff\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    answer.extend_from_slice(&body);
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARE_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 06 Dec 2025 04:00:00 GMT\r\n\r\n";

    #[test]
    fn a_bare_431_gets_a_problem_body() {
        let answer =
            String::from_utf8(with_problem_body(BARE_431).expect("rewritten")).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("\r\ndate: Sat, 06 Dec 2025 04:00:00 GMT\r\n"));
        assert!(head.contains("\r\ncontent-type: application/problem+json\r\n"));
        assert!(head.contains("\r\nx-content-type-options: nosniff\r\n"));
        assert!(head.ends_with(&format!("content-length: {}", body.len())));
        let problem: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(problem["status"], 431);
    }

    #[test]
    fn anything_else_is_written_as_it_is() {
        for written in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{\"a\": 1}\r\n\r\n",
            b"{\"HTTP/1.1 431\": 0}",
            b"",
        ] {
            assert_eq!(with_problem_body(written), None, "{written:?}");
        }
    }
}
