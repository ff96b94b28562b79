//! `clerk-sync healthcheck`: probes `/healthz` for a container's `HEALTHCHECK`, where there is no
//! shell or curl (distroless). Plain HTTP/1.0 over std's `TcpStream`: no async runtime, no TLS,
//! nothing to start up, so a probe every few seconds costs next to nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to probe (plain http) [default: http://127.0.0.1:$ROCKET_PORT/healthz].
    #[arg(long)]
    url: Option<String>,
    /// The local server's port, used by the default URL.
    #[arg(long, env = "ROCKET_PORT", default_value_t = 8000)]
    port: u16,
    /// Give up after this many seconds (connecting and reading each).
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

/// Exit 0 when the URL answers 200, 1 otherwise; one line on stdout either way.
pub fn run(args: HealthcheckArgs) -> ExitCode {
    let url = args
        .url
        .unwrap_or_else(|| format!("http://127.0.0.1:{}/healthz", args.port));
    match probe(&url, Duration::from_secs(args.timeout.max(1))) {
        Ok(200) => {
            say!("healthy: {url} answered 200");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            say!("unhealthy: {url} answered {status}");
            ExitCode::FAILURE
        }
        Err(err) => {
            say!("unhealthy: {url}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The status code of `GET url`.
fn probe(url: &str, timeout: Duration) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs can be probed")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    // `host:port`, with port 80 when none is given (`[::1]` brackets included).
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'))
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addrs = with_port
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve {authority}: {err}"))?;
    let mut last = format!("{authority} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(mut stream) => {
                stream.set_read_timeout(Some(timeout)).ok();
                stream.set_write_timeout(Some(timeout)).ok();
                let request = format!(
                    "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
                );
                stream
                    .write_all(request.as_bytes())
                    .map_err(|err| err.to_string())?;
                // The status line is all we need: `HTTP/1.1 200 OK`.
                let mut line = String::new();
                BufReader::new(stream.take(256))
                    .read_line(&mut line)
                    .map_err(|err| err.to_string())?;
                return line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|code| code.parse().ok())
                    .ok_or_else(|| format!("not an HTTP answer: {:?}", line.trim_end()));
            }
            Err(err) => last = err.to_string(),
        }
    }
    Err(last)
}
