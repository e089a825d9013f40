//! The load generator: keep-alive HTTP/1.1 connections, one per worker, each sending a
//! request and reading its answer before the next (closed loop, like `wrk` without
//! pipelining). It is a few lines over a TCP stream rather than an HTTP client library,
//! so that it costs the shared CPU as little as possible: on a small machine the
//! generator's own work is part of what is measured. The servers it measures (Sunbeam
//! and the floor probes) run in other processes; the generator's CPU still competes
//! with them for the same cores, equally for both, which is why figures are quoted as
//! ratios to the floor measured in the same run.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// An answer: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn { addr, stream: None, buf: Vec::with_capacity(64 * 1024) }
    }

    /// Sends one request and reads its answer; reconnects once if the connection was closed.
    pub async fn request(&mut self, method: &str, path: &str, auth: &str, body: Option<&[u8]>) -> Result<Answer, String> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.addr);
        if !auth.is_empty() {
            head.push_str("authorization: ");
            head.push_str(auth);
            head.push_str("\r\n");
        }
        if let Some(b) = body {
            head.push_str(&format!("content-type: application/json\r\ncontent-length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        if let Some(b) = body {
            wire.extend_from_slice(b);
        }
        let fresh = self.stream.is_none();
        match self.exchange(&wire).await {
            Ok(a) => Ok(a),
            Err(e) if !fresh => {
                // The server may close an idle keep-alive connection; try once on a new one.
                self.stream = None;
                self.exchange(&wire).await.map_err(|e2| format!("{e}; then {e2}"))
            }
            Err(e) => Err(e),
        }
    }

    async fn exchange(&mut self, wire: &[u8]) -> Result<Answer, String> {
        if self.stream.is_none() {
            let s = TcpStream::connect(self.addr).await.map_err(|e| format!("connect {}: {e}", self.addr))?;
            let _ = s.set_nodelay(true);
            self.stream = Some(s);
        }
        let stream = self.stream.as_mut().ok_or("no connection")?;
        if let Err(e) = stream.write_all(wire).await {
            self.stream = None;
            return Err(e.to_string());
        }
        let out = read_answer(stream, &mut self.buf).await;
        if out.is_err() {
            self.stream = None;
        }
        out
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn read_answer(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Answer, String> {
    buf.clear();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "response head is not text")?.to_string();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line: {head}"))?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = head_end;
        loop {
            let line_end = loop {
                if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                    break at + i;
                }
                fill(stream, buf).await?;
            };
            let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| "bad chunk size")?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).map_err(|_| "bad chunk size")?;
            let need = line_end + 2 + size + 2;
            while buf.len() < need {
                fill(stream, buf).await?;
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            at = need;
            if size == 0 {
                return Ok(Answer { status, body });
            }
        }
    }
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + length {
        fill(stream, buf).await?;
    }
    Ok(Answer { status, body: buf[head_end..head_end + length].to_vec() })
}

/// What one run measured: each request's latency (µs) and when it started and ended
/// (µs since the run began), errors, and the run's length.
#[derive(Default)]
pub struct Stats {
    pub latencies_us: Vec<u64>,
    /// (start, end) of each successful request, µs from the start of the run.
    pub spans_us: Vec<(u64, u64)>,
    pub errors: usize,
    pub elapsed: Duration,
    pub started: Option<Instant>,
}

/// A run's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: usize,
}

impl Stats {
    pub fn figures(&self) -> Figures {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let n = l.len();
        let pct = |p: f64| if n == 0 { 0.0 } else { l[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0 };
        Figures { rate: n as f64 / self.elapsed.as_secs_f64().max(1e-9), p50_ms: pct(0.50), p99_ms: pct(0.99), max_ms: pct(1.0), errors: self.errors }
    }

    pub fn report(&self, label: &str, unit: &str) -> Figures {
        let f = self.figures();
        println!(
            "{label:<48} {:>9.0} {unit}/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms   errors {}",
            f.rate, f.p50_ms, f.p99_ms, f.max_ms, f.errors
        );
        f
    }
}

/// Runs `total` requests over `concurrency` connections; `request(i, conn)` performs the
/// i-th and says whether it succeeded. Each worker owns its connection.
pub async fn drive<F, Fut>(addrs: &[SocketAddr], total: usize, concurrency: usize, request: F) -> Stats
where
    F: Fn(usize, Conn) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = (Conn, Result<(), String>)> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let request = Arc::new(request);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..concurrency.max(1) {
        let (next, request) = (next.clone(), request.clone());
        // Workers spread over the nodes (one or more servers on one store).
        let addr = addrs[w % addrs.len()];
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::new(addr);
            let mut lat = Vec::new();
            let mut spans = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                let (back, outcome) = request(i, conn).await;
                conn = back;
                match outcome {
                    Ok(()) => {
                        let end = Instant::now();
                        lat.push(end.duration_since(t).as_micros() as u64);
                        spans.push((t.duration_since(started).as_micros() as u64, end.duration_since(started).as_micros() as u64));
                    }
                    Err(e) => {
                        if errors == 0 {
                            eprintln!("request failed: {e}");
                        }
                        errors += 1;
                    }
                }
            }
            (lat, spans, errors)
        }));
    }
    let mut stats = Stats { started: Some(started), ..Stats::default() };
    for w in workers {
        if let Ok((lat, spans, errors)) = w.await {
            stats.latencies_us.extend(lat);
            stats.spans_us.extend(spans);
            stats.errors += errors;
        }
    }
    stats.elapsed = started.elapsed();
    stats
}

/// A request whose answer must have status `want`.
pub async fn expect(mut conn: Conn, method: &str, path: &str, auth: &str, body: Option<&[u8]>, want: u16) -> (Conn, Result<Answer, String>) {
    let out = match conn.request(method, path, auth, body).await {
        Ok(a) if a.status == want => Ok(a),
        Ok(a) => Err(format!("{method} {path}: {} {}", a.status, String::from_utf8_lossy(&a.body[..a.body.len().min(300)]))),
        Err(e) => Err(e),
    };
    (conn, out)
}
