//! What can go wrong in `switchboard ctl`, and the exit code each failure gives, so
//! scripts can tell a refused request from an unreachable server.

use tonic::{Code, Status};

/// A failed `switchboard ctl` command.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// Bad flags or input, found before anything was sent (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// No connection to the server (exit code 3).
    #[error("cannot reach the server at {addr}: {cause}")]
    Connect {
        /// The address tried.
        addr: String,
        /// The transport's reason, innermost cause included.
        cause: String,
    },
    /// The server answered with a gRPC error (exit code 1).
    #[error("{}", status_line(.status, .addr))]
    Status {
        /// The server's address, named when the status is about reaching it.
        addr: String,
        /// The status as received.
        status: Box<Status>,
    },
}

impl CtlError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Status { .. } => 1,
            CtlError::Usage(_) => 2,
            CtlError::Connect { .. } => 3,
        }
    }

    /// A status the server at `addr` answered with.
    pub(crate) fn status(addr: &str, status: Status) -> Self {
        CtlError::Status {
            addr: addr.to_owned(),
            status: Box::new(status),
        }
    }
}

/// `CODE: message`, the code as the gRPC specification spells it.
fn status_line(status: &Status, addr: &str) -> String {
    let message = if status.message().is_empty() {
        status.code().description()
    } else {
        status.message()
    };
    let code = code_name(status.code());
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Unknown => {
            format!("{code}: {message} (server at {addr})")
        }
        _ => format!("{code}: {message}"),
    }
}

/// The canonical upper-case name of a gRPC status code (`NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_its_code_and_message() {
        let e = CtlError::status(
            "http://h:1",
            Status::not_found("conversation x is not open"),
        );
        assert_eq!(e.to_string(), "NOT_FOUND: conversation x is not open");
        assert_eq!(e.exit_code(), 1);
        let e = CtlError::status("http://h:1", Status::unavailable(""));
        assert!(e.to_string().starts_with("UNAVAILABLE: "), "{e}");
        assert!(e.to_string().ends_with("(server at http://h:1)"), "{e}");
    }
}
