//! The connector's error type, independent of the generated bindings.
//!
//! Every failure inside the guest becomes an [`Error`] with one of the three
//! kinds the host acts on: the user must fix something (`Config`), trying
//! again may work (`Transient`), or it is a bug or an answer we cannot
//! understand (`System`). Messages are one line for a person and never carry
//! a secret; the developer-facing part goes to `detail`.

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
    pub stream: Option<String>,
    /// True when the error ends the whole read (bad credentials, a denied
    /// host), not only the stream it happened in.
    pub fatal: bool,
    /// The HTTP status that caused it, when a server answered.
    pub status: Option<u16>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), detail: None, stream: None, fatal: false, status: None }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config, message)
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(Kind::Transient, message)
    }

    pub fn system(message: impl Into<String>) -> Self {
        Self::new(Kind::System, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Kind::Unavailable, message)
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

    /// The server answered that these credentials may not do this.
    pub fn is_refusal(&self) -> bool {
        self.kind == Kind::Config && matches!(self.status, Some(401 | 403))
    }

    /// A 404 saying the endpoint does not exist on this version.
    pub fn is_missing_endpoint(&self) -> bool {
        self.status == Some(404) && self.message.contains("does not have that endpoint")
    }

    /// A 403 on one stream is not a failure of the read: the stream is
    /// unavailable to these credentials, and `needs` says what it needs.
    pub fn unavailable_if_forbidden(self, needs: &str) -> Self {
        if self.status == Some(403) && self.kind != Kind::Unavailable {
            let message = format!("{} {needs}", self.message);
            return Error { message, kind: Kind::Unavailable, ..self };
        }
        self
    }

    pub fn fatal(mut self) -> Self {
        self.fatal = true;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
