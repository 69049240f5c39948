//! The connector's error type, independent of the generated bindings.
//!
//! Every failure inside the guest becomes an [`Error`] with one of the four
//! kinds the host acts on: the user must fix something (`Config`), trying
//! again may work (`Transient`), it is a bug or an answer we cannot
//! understand (`System`), or the credentials may not read one stream
//! (`Unavailable`). Messages are one line for a person and never carry a
//! secret; the developer-facing part goes to `detail`.
//!
//! Each error also carries a typed [`Cause`], set where the failure is known
//! (the HTTP layer, the client, a decoder, the config): code that must tell
//! failures apart tests `e.is(Cause::EndpointMissing)`, never the message
//! text, and the cause crosses the WIT boundary so the host can do the same.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Config,
    Transient,
    System,
    /// The credentials may not read one stream (403): the host warns and
    /// goes on, the run does not fail.
    Unavailable,
}

/// What went wrong, as precisely as the place that saw it knows. The WIT
/// `cause` enum documents each one for hosts; the mapping is in `lib.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// 401, or a login the server refused.
    Unauthorised,
    /// 403.
    Forbidden,
    /// 404 for an object (Metabase's `Not found.`).
    NotFound,
    /// 404 `API endpoint does not exist.`: this version lacks the endpoint.
    EndpointMissing,
    /// 429.
    RateLimited,
    /// 5xx.
    ServerError,
    /// Any other status we do not expect (400, 405, 409, ...).
    UnexpectedStatus,
    /// A redirect we will not follow: off the origin, no `Location`, a loop.
    Redirect,
    /// No answer: refused, reset or closed connections, DNS failures.
    Transport,
    /// No answer in time.
    Timeout,
    /// The TLS handshake or the server's certificate failed.
    Tls,
    /// The host refused the request: not on its allow-list.
    Denied,
    /// The host failed to carry out the request for a reason of its own
    /// (`wasi:http` `internal-error`, e.g. a replay without that exchange).
    Host,
    /// The body ended before its document did.
    Truncated,
    /// An HTML page where the API should answer: the URL is not the API's.
    NotApi,
    /// A body we cannot understand: not JSON or CSV, or the wrong shape.
    Protocol,
    /// Metabase ran a saved question and the query failed there.
    QueryFailed,
    /// One of our own bounds was hit (an element or a value too large).
    Limit,
    /// The config is invalid.
    Config,
    /// The stream selection names a stream or a sync mode we do not have.
    Selection,
    /// The state passed to a read is not one we wrote.
    State,
    /// A bug: something we rely on did not hold.
    Internal,
}

impl Cause {
    /// The kind an error of this cause has unless the place that raises it
    /// knows better (an off-origin redirect is the user's to fix, a loop is not).
    pub fn kind(self) -> Kind {
        use Cause::*;
        match self {
            Unauthorised | Forbidden | EndpointMissing | Denied | NotApi | Config | Selection | State => Kind::Config,
            RateLimited | ServerError | Transport | Timeout | Truncated => Kind::Transient,
            NotFound | UnexpectedStatus | Redirect | Tls | Host | Protocol | QueryFailed | Limit | Internal => Kind::System,
        }
    }

    /// Whether the same request may succeed if tried again later, with
    /// nothing else changed.
    pub fn retryable(self) -> bool {
        self.kind() == Kind::Transient
    }

    /// The cause of an I/O error while reading a body (`wasi_send`'s body
    /// reader and the decoders report theirs in these kinds).
    pub fn of_io(e: &std::io::Error) -> Cause {
        match e.kind() {
            std::io::ErrorKind::TimedOut => Cause::Timeout,
            std::io::ErrorKind::UnexpectedEof => Cause::Truncated,
            std::io::ErrorKind::InvalidData => Cause::Protocol,
            std::io::ErrorKind::FileTooLarge => Cause::Limit,
            _ => Cause::Transport,
        }
    }

    /// The cause an error of `kind` gets from the kind-named constructors,
    /// which sites use when nothing more precise is known.
    fn default_for(kind: Kind) -> Cause {
        match kind {
            Kind::Config => Cause::Config,
            Kind::Transient => Cause::Transport,
            Kind::System => Cause::Protocol,
            Kind::Unavailable => Cause::Forbidden,
        }
    }
}

/// Whether trying again may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Not until something changes (config, permissions, server, connector).
    Never,
    /// Later; `Some(s)`: the server asked to wait `s` seconds (`Retry-After`).
    Later(Option<u32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub cause: Cause,
    pub message: String,
    pub detail: Option<String>,
    pub stream: Option<String>,
    /// True when the error ends the whole read (bad credentials, a denied
    /// host), not only the stream it happened in.
    pub fatal: bool,
    /// The HTTP status that caused it, when a server answered.
    pub status: Option<u16>,
    /// The server's `Retry-After`, in seconds, when it sent one.
    pub retry_after_s: Option<u32>,
    /// For [`Cause::QueryFailed`]: Metabase's `error_type` of the failed
    /// query (`timed-out`, `db`, `invalid-query`,
    /// `missing-required-permissions`…: metabase/metabase
    /// `query_processor/error_type.clj`), when it gave a known one. A
    /// refusal thrown before the query runs often has none.
    pub error_type: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `cause`, of the kind that cause usually has.
    pub fn new(cause: Cause, message: impl Into<String>) -> Self {
        Self::of_kind(cause.kind(), cause, message)
    }

    fn of_kind(kind: Kind, cause: Cause, message: impl Into<String>) -> Self {
        Error {
            kind,
            cause,
            message: message.into(),
            detail: None,
            stream: None,
            fatal: false,
            status: None,
            retry_after_s: None,
            error_type: None,
        }
    }

    /// A config error; the cause is [`Cause::Config`] unless set with
    /// [`Self::with_cause`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::of_kind(Kind::Config, Cause::default_for(Kind::Config), message)
    }

    /// A transient error; the cause is [`Cause::Transport`] unless set.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::of_kind(Kind::Transient, Cause::default_for(Kind::Transient), message)
    }

    /// A system error; the cause is [`Cause::Protocol`] unless set.
    pub fn system(message: impl Into<String>) -> Self {
        Self::of_kind(Kind::System, Cause::default_for(Kind::System), message)
    }

    /// A stream these credentials may not read; the cause is [`Cause::Forbidden`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::of_kind(Kind::Unavailable, Cause::default_for(Kind::Unavailable), message)
    }

    /// The same error with a more precise cause; the kind stays.
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = cause;
        self
    }

    /// A failed query's `error_type`, as Metabase wrote it.
    pub fn with_error_type(mut self, error_type: Option<String>) -> Self {
        self.error_type = error_type;
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn in_stream(mut self, stream: &str) -> Self {
        if self.stream.is_none() {
            self.stream = Some(stream.to_string());
        }
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_retry_after(mut self, seconds: Option<u32>) -> Self {
        self.retry_after_s = seconds;
        self
    }

    pub fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }

    /// Whether this error has `cause`.
    pub fn is(&self, cause: Cause) -> bool {
        self.cause == cause
    }

    /// The server answered that these credentials may not do this.
    pub fn is_refusal(&self) -> bool {
        self.kind == Kind::Config && matches!(self.cause, Cause::Unauthorised | Cause::Forbidden)
    }

    /// Whether trying again may help, and after how long.
    pub fn retry(&self) -> Retry {
        if self.cause.retryable() {
            Retry::Later(self.retry_after_s)
        } else {
            Retry::Never
        }
    }

    /// A forbidden answer while reading `stream` means these credentials may
    /// not read it: the stream is reported unavailable (the host warns and
    /// goes on) with the permission it `needs` ("an admin account"). Any
    /// other error is returned as it is.
    pub fn forbidden_as_unavailable(self, stream: &str, needs: &str) -> Error {
        if self.cause != Cause::Forbidden || self.kind == Kind::Unavailable {
            return self;
        }
        let message = format!("{} Reading `{stream}` needs {needs}.", self.message);
        Error { kind: Kind::Unavailable, message, ..self }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_becomes_unavailable_with_the_permission_sentence() {
        let e = Error::new(Cause::Forbidden, "Permission denied: GET /api/user?limit=2&offset=0 answered 403 (You don't have permissions to do that.).")
            .with_status(403);
        let u = e.clone().forbidden_as_unavailable("users", "an admin or group-manager account");
        assert_eq!(
            u.message,
            "Permission denied: GET /api/user?limit=2&offset=0 answered 403 (You don't have permissions to do that.). Reading `users` needs an admin or group-manager account."
        );
        assert_eq!((u.kind, u.cause, u.status), (Kind::Unavailable, Cause::Forbidden, Some(403)));
        // Once only, and never for another cause.
        assert_eq!(u.clone().forbidden_as_unavailable("users", "x"), u);
        let other = Error::new(Cause::NotFound, "gone").with_status(404);
        assert_eq!(other.clone().forbidden_as_unavailable("users", "x"), other);
    }

    #[test]
    fn retry_follows_the_cause_and_keeps_the_servers_wait() {
        let e = Error::new(Cause::RateLimited, "slow down").with_retry_after(Some(7));
        assert_eq!(e.retry(), Retry::Later(Some(7)));
        assert_eq!(Error::new(Cause::Timeout, "t").retry(), Retry::Later(None));
        assert_eq!(Error::new(Cause::Forbidden, "f").with_retry_after(Some(7)).retry(), Retry::Never);
        for kind in [Kind::Config, Kind::Transient, Kind::System, Kind::Unavailable] {
            let e = match kind {
                Kind::Config => Error::config("x"),
                Kind::Transient => Error::transient("x"),
                Kind::System => Error::system("x"),
                Kind::Unavailable => Error::unavailable("x"),
            };
            assert_eq!(e.kind, kind);
            assert_eq!(e.cause.retryable(), kind == Kind::Transient, "{kind:?}: retry agrees with the kind");
        }
    }

    #[test]
    fn io_errors_have_their_cause() {
        use std::io::{Error as Io, ErrorKind};
        assert_eq!(Cause::of_io(&Io::new(ErrorKind::TimedOut, "t")), Cause::Timeout);
        assert_eq!(Cause::of_io(&Io::new(ErrorKind::UnexpectedEof, "t")), Cause::Truncated);
        assert_eq!(Cause::of_io(&Io::new(ErrorKind::InvalidData, "t")), Cause::Protocol);
        assert_eq!(Cause::of_io(&Io::new(ErrorKind::ConnectionReset, "t")), Cause::Transport);
    }

    #[test]
    fn refusals_are_told_by_their_cause() {
        assert!(Error::new(Cause::Unauthorised, "no").is_refusal());
        assert!(Error::new(Cause::Forbidden, "no").is_refusal());
        assert!(!Error::new(Cause::Forbidden, "no").forbidden_as_unavailable("s", "x").is_refusal());
        assert!(!Error::new(Cause::Config, "no").is_refusal());
        assert!(Error::new(Cause::EndpointMissing, "no").is(Cause::EndpointMissing));
    }
}
