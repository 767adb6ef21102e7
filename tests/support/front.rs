//! A round-robin loopback TCP front for several gateways, as a load balancer would be: each
//! accepted connection goes to the next backend that accepts one (a killed instance is skipped),
//! bytes are copied both ways until either side closes. Per connection, not per request: a
//! client that wants each request on the next instance sends `Connection: close`.

use std::io::ErrorKind;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A running front; stops accepting when dropped (open connections run to their end).
pub struct Front {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Front {
    /// Listen on a free loopback port in front of the gateways on `backends` (ports).
    pub fn start(backends: Vec<u16>) -> Front {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the front");
        let port = listener.local_addr().expect("front address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let (backends, next) = (backends.clone(), next.clone());
                std::thread::spawn(move || relay(client, &backends, &next));
            }
        });
        Front {
            base: format!("http://127.0.0.1:{port}"),
            port,
            stop,
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Connect `client` to the next live backend and copy until both directions are done; with
/// no live backend the client's connection is just closed.
fn relay(client: TcpStream, backends: &[u16], next: &AtomicUsize) {
    let start = next.fetch_add(1, Ordering::SeqCst);
    let upstream = (0..backends.len())
        .map(|i| backends[(start + i) % backends.len()])
        .find_map(|port| TcpStream::connect(("127.0.0.1", port)).ok());
    let Some(upstream) = upstream else { return };
    // As a load balancer does: without it, Nagle's algorithm holds the second write of an
    // answer for the client's delayed ACK (40 ms a round trip, measured in benches/instances).
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(mut c_read), Ok(mut u_read)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let (mut c_write, mut u_write) = (client, upstream);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(Shutdown::Write);
    });
    if let Err(e) = std::io::copy(&mut u_read, &mut c_write) {
        // A killed backend resets: pass the failure on as a reset too, not a clean end.
        if e.kind() == ErrorKind::ConnectionReset {
            let _ = c_write.shutdown(Shutdown::Both);
        }
    }
    let _ = c_write.shutdown(Shutdown::Write);
    let _ = up.join();
}
