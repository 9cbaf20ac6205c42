//! The connections a workload runs over: socketpairs in this process, or
//! loopback TCP whose client ends live in a child process that echoes.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The argument that turns a bench binary into the TCP echo clients.
pub const ECHO_CLIENTS_ARG: &str = "--echo-clients";

/// How the pairs of a workload are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `socketpair(AF_UNIX, SOCK_STREAM)`: both ends in this process.
    SocketPair,
    /// Loopback TCP: this process holds the server ends, a child the clients.
    Tcp,
}

impl Transport {
    /// The name used in tables and charts.
    pub fn name(self) -> &'static str {
        match self {
            Transport::SocketPair => "socketpair",
            Transport::Tcp => "tcp",
        }
    }
}

/// N connections: pair `i` is watched on `rd[i]` and written on `wr[i]`.
///
/// For socketpairs the two are the two ends. For TCP both are the server's
/// socket: a byte written there comes back from the echoing client, so the
/// socket turns readable a round trip through another process later.
pub struct Conns {
    /// The fds the event loop watches.
    pub rd: Vec<RawFd>,
    /// The fds a chained write goes to.
    pub wr: Vec<RawFd>,
    owned: Vec<OwnedFd>,
    child: Option<Child>,
}

impl Conns {
    /// Opens `n` connections over `transport`.
    pub fn open(transport: Transport, n: usize) -> io::Result<Conns> {
        match transport {
            Transport::SocketPair => Conns::socketpairs(n),
            Transport::Tcp => Conns::tcp(n),
        }
    }

    /// Opens `n` nonblocking socketpairs.
    pub fn socketpairs(n: usize) -> io::Result<Conns> {
        let mut conns = Conns::empty(n);
        for _ in 0..n {
            let mut sv = [-1; 2];
            let kind = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            // SAFETY: `sv` has room for the two fds socketpair writes.
            if unsafe { libc::socketpair(libc::AF_UNIX, kind, 0, sv.as_mut_ptr()) } < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both fds were just created and are owned by no one else.
            let (a, b) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
            conns.rd.push(sv[0]);
            conns.wr.push(sv[1]);
            conns.owned.push(a);
            conns.owned.push(b);
        }
        Ok(conns)
    }

    /// Opens `n` loopback TCP connections whose clients run in a child.
    pub fn tcp(n: usize) -> io::Result<Conns> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        // Let every client's handshake finish before it is accepted.
        // SAFETY: a valid listening socket; listen may be called again.
        unsafe { libc::listen(listener.as_raw_fd(), 4096) };
        let port = listener.local_addr()?.port();

        let child = Command::new(std::env::current_exe()?)
            .arg(ECHO_CLIENTS_ARG)
            .arg(port.to_string())
            .arg(n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut conns = Conns::empty(n);
        conns.child = Some(child);

        for _ in 0..n {
            wait_readable(listener.as_raw_fd(), Duration::from_secs(20))?;
            let (stream, _) = listener.accept()?;
            stream.set_nodelay(true)?;
            stream.set_nonblocking(true)?;
            let fd = OwnedFd::from(stream);
            conns.rd.push(fd.as_raw_fd());
            conns.wr.push(fd.as_raw_fd());
            conns.owned.push(fd);
        }
        Ok(conns)
    }

    fn empty(n: usize) -> Conns {
        Conns {
            rd: Vec::with_capacity(n),
            wr: Vec::with_capacity(n),
            owned: Vec::with_capacity(2 * n),
            child: None,
        }
    }

    /// How many connections there are.
    pub fn len(&self) -> usize {
        self.rd.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rd.is_empty()
    }
}

impl Drop for Conns {
    fn drop(&mut self) {
        self.owned.clear();
        if let Some(mut child) = self.child.take() {
            // Closing its stdin tells the child to go; kill covers the rest.
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: one valid pollfd, as the count says.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        match n {
            1 => return Ok(()),
            0 => {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "clients did not connect",
                ))
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// The child's side of [`Transport::Tcp`]: connects `n` clients to `port`
/// and echoes every byte back until its stdin closes. Uses raw epoll, so
/// that the clients cost the same whatever backend the server runs.
pub fn echo_clients_main(port: u16, n: usize) -> io::Result<()> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        streams.push(stream);
    }

    // SAFETY: epoll_create1 takes no pointers.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error());
    }
    let stdin_token = u64::MAX;
    let watched = streams.iter().map(|s| s.as_raw_fd()).enumerate();
    for (token, fd) in watched
        .map(|(i, fd)| (i as u64, fd))
        .chain([(stdin_token, 0)])
    {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: valid epoll fd and event; fd is open for the call.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }

    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: `evs` has room for the count given.
        let n = unsafe { libc::epoll_wait(epfd, evs.as_mut_ptr(), evs.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &evs[..n as usize] {
            if ev.u64 == stdin_token {
                return Ok(());
            }
            let fd = streams[ev.u64 as usize].as_raw_fd();
            // SAFETY: `buf` is valid for its length; fd is an open socket.
            let got = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if got == 0 {
                return Ok(());
            }
            if got > 0 {
                // SAFETY: the first `got` bytes of `buf` were just read.
                unsafe { libc::write(fd, buf.as_ptr().cast(), got as usize) };
            }
        }
    }
}
