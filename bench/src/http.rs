//! A lean HTTP/1.1 client: one keep-alive connection, requests prebuilt as
//! bytes, response heads parsed with `httparse`, bodies skipped unless asked
//! for. It costs a few microseconds per request, so one generator thread can
//! drive both server cores (the harness reports its CPU share to prove it).

use std::io;
use std::net::SocketAddr;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const INITIAL_BUFFER: usize = 16 * 1024;
const MAX_HEADERS: usize = 32;

/// A request ready to be written, byte for byte.
#[derive(Clone, Debug)]
pub struct Request(pub Vec<u8>);

/// Builds a [`Request`]: `Host`, `Content-Length` and (for bodies) JSON content type are added.
pub struct RequestBuilder {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    pub fn get(path: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new("GET", path.into())
    }

    pub fn post(path: impl Into<String>) -> RequestBuilder {
        RequestBuilder::new("POST", path.into())
    }
}

impl RequestBuilder {
    fn new(method: &'static str, path: String) -> Self {
        RequestBuilder { method, path, headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = body.to_string().into_bytes();
        self.header("content-type", "application/json")
    }

    pub fn build(self) -> Request {
        let mut head = format!("{} {} HTTP/1.1\r\nhost: 127.0.0.1\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.body.is_empty() || self.method != "GET" {
            head.push_str(&format!("content-length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        Request(bytes)
    }
}

/// A response: its status and, when asked for, its body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server will close the connection after this response.
    pub closing: bool,
    /// The `name=value` of the first `Set-Cookie` header (dashboard sessions).
    pub cookie: Option<String>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("status {}, body {}", self.status, self.text()))
    }

    /// The JSON body, or an error naming the status when it is not `expected`.
    pub fn expect_json(&self, expected: u16) -> anyhow::Result<Value> {
        if self.status != expected {
            bail!("expected status {expected}, got {}: {}", self.status, self.text());
        }
        self.json()
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    length: usize,
    framing: Framing,
    closing: bool,
    cookie: Option<String>,
}

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    /// Received bytes not consumed yet live in `buffer[start..end]`.
    buffer: Vec<u8>,
    start: usize,
    end: usize,
}

impl Connection {
    pub async fn connect(address: SocketAddr) -> io::Result<Connection> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buffer: vec![0; INITIAL_BUFFER], start: 0, end: 0 })
    }

    /// Sends `request` and reads the whole response; the body is kept only when `keep_body`.
    pub async fn send(&mut self, request: &Request, keep_body: bool) -> io::Result<Response> {
        self.stream.write_all(&request.0).await?;
        let head = loop {
            if let Some(head) = self.parse_head()? {
                break head;
            }
            self.fill().await?;
        };
        self.start += head.length;
        let body = match head.framing {
            Framing::Length(length) => self.take(length, keep_body).await?,
            Framing::Chunked => self.take_chunked(keep_body).await?,
            Framing::UntilClose => self.take_until_close(keep_body).await?,
        };
        Ok(Response { status: head.status, body, closing: head.closing, cookie: head.cookie })
    }

    fn parse_head(&self) -> io::Result<Option<Head>> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let length = match parsed.parse(&self.buffer[self.start..self.end]) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        };
        let status = parsed.code.unwrap_or(0);
        let mut framing =
            if matches!(status, 100..=199 | 204 | 304) { Framing::Length(0) } else { Framing::UntilClose };
        let mut closing = false;
        let mut cookie = None;
        for header in parsed.headers.iter() {
            if header.name.eq_ignore_ascii_case("content-length") {
                let text = std::str::from_utf8(header.value).unwrap_or("");
                let value = text.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "length"))?;
                framing = Framing::Length(value);
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                framing = Framing::Chunked;
            } else if header.name.eq_ignore_ascii_case("connection") {
                closing = header.value.eq_ignore_ascii_case(b"close");
            } else if header.name.eq_ignore_ascii_case("set-cookie") && cookie.is_none() {
                let text = String::from_utf8_lossy(header.value);
                cookie = text.split(';').next().map(|pair| pair.trim().to_owned());
            }
        }
        if matches!(framing, Framing::UntilClose) {
            closing = true;
        }
        Ok(Some(Head { status, length, framing, closing, cookie }))
    }

    /// Reads more bytes, making room at the end of the buffer first.
    async fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buffer.len() {
            if self.start > 0 {
                self.buffer.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buffer.resize(self.buffer.len() * 2, 0);
            }
        }
        let read = self.stream.read(&mut self.buffer[self.end..]).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += read;
        Ok(())
    }

    /// Consumes `length` bytes, returning them when `keep`.
    async fn take(&mut self, mut length: usize, keep: bool) -> io::Result<Vec<u8>> {
        let mut kept = Vec::new();
        loop {
            let available = (self.end - self.start).min(length);
            if keep {
                kept.extend_from_slice(&self.buffer[self.start..self.start + available]);
            }
            self.start += available;
            length -= available;
            if length == 0 {
                return Ok(kept);
            }
            self.fill().await?;
        }
    }

    /// Consumes one CRLF-terminated line and returns it without the CRLF.
    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(offset) = self.buffer[self.start..self.end].windows(2).position(|pair| pair == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buffer[self.start..self.start + offset]).into_owned();
                self.start += offset + 2;
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    async fn take_chunked(&mut self, keep: bool) -> io::Result<Vec<u8>> {
        let mut kept = Vec::new();
        loop {
            let line = self.line().await?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                while !self.line().await?.is_empty() {}
                return Ok(kept);
            }
            kept.extend(self.take(size, keep).await?);
            self.line().await?;
        }
    }

    async fn take_until_close(&mut self, keep: bool) -> io::Result<Vec<u8>> {
        let mut kept = Vec::new();
        loop {
            if keep {
                kept.extend_from_slice(&self.buffer[self.start..self.end]);
            }
            self.start = self.end;
            match self.fill().await {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(kept),
                Err(error) => return Err(error),
            }
        }
    }
}

/// A client for setup calls: one connection, reopened when the server closes it.
pub struct Client {
    pub address: SocketAddr,
    connection: Option<Connection>,
}

impl Client {
    pub fn new(address: SocketAddr) -> Client {
        Client { address, connection: None }
    }

    pub async fn send(&mut self, request: &Request) -> anyhow::Result<Response> {
        if let Some(mut connection) = self.connection.take()
            && let Ok(response) = connection.send(request, true).await
        {
            if !response.closing {
                self.connection = Some(connection);
            }
            return Ok(response);
        }
        // No connection yet, or the kept one went stale: a fresh one.
        let mut connection =
            Connection::connect(self.address).await.with_context(|| format!("connecting to {}", self.address))?;
        let response = connection.send(request, true).await.context("request")?;
        if !response.closing {
            self.connection = Some(connection);
        }
        Ok(response)
    }
}
