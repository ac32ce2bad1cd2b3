//! Query-protocol errors and their two wire shapes, mapped from the core's errors in one place.
//!
//! - ec2Query: `<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>`
//! - awsQuery: `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code/><Message/></Error><RequestId/></ErrorResponse>`
//!
//! The HTTP status matters as much as the code: SDKs retry 5xx and throttling, never 4xx.

use http::StatusCode;

use crate::sigv4::SigV4Error;
use crate::xml::XmlWriter;

/// Which wire shape a service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceProtocol {
    /// EC2.
    Ec2Query,
    /// ELBv2, STS, IAM.
    AwsQuery,
}

/// An error answered to a Query-protocol request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// AWS error code, e.g. `InvalidParameterValue`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// HTTP status.
    pub status: StatusCode,
}

impl QueryError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            status,
        }
    }

    /// A 400 error: the caller's fault.
    pub fn client(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 500 error: Kumo's fault; SDKs retry it. The detail is logged, not sent.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "An internal error has occurred. Retry your request.",
        )
    }

    /// The action exists in the service's model but Kumo does not implement it yet.
    pub fn unsupported_operation(action: &str) -> Self {
        Self::client(
            "UnsupportedOperation",
            format!("The action {action} is not supported by this Kumo endpoint yet."),
        )
    }

    /// The action does not exist.
    pub fn invalid_action(action: &str) -> Self {
        Self::client(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )
    }

    /// A required parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::client(
            "MissingParameter",
            format!("The request must contain the parameter {name}"),
        )
    }

    /// An authentication failure, in the service's own words.
    #[must_use]
    pub fn from_auth(protocol: ServiceProtocol, err: &SigV4Error) -> Self {
        let forbidden = StatusCode::FORBIDDEN;
        match (protocol, err) {
            (ServiceProtocol::Ec2Query, SigV4Error::Missing) => Self::new(
                StatusCode::UNAUTHORIZED,
                "MissingAuthenticationToken",
                "The request must contain either a valid (registered) AWS access key ID or X.509 certificate.",
            ),
            (ServiceProtocol::AwsQuery, SigV4Error::Missing) => Self::new(
                forbidden,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
            (ServiceProtocol::Ec2Query, SigV4Error::Skewed(_) | SigV4Error::Expired(_)) => {
                Self::client("RequestExpired", format!("Request has expired: {err}"))
            }
            (ServiceProtocol::AwsQuery, SigV4Error::Skewed(_) | SigV4Error::Expired(_)) => {
                Self::new(
                    forbidden,
                    "SignatureDoesNotMatch",
                    format!("Signature expired: {err}"),
                )
            }
            (ServiceProtocol::Ec2Query, SigV4Error::Malformed(m)) => {
                Self::new(StatusCode::UNAUTHORIZED, "AuthFailure", m.clone())
            }
            (ServiceProtocol::AwsQuery, SigV4Error::Malformed(m)) => {
                Self::client("IncompleteSignature", m.clone())
            }
            (_, SigV4Error::Mismatch) => Self::new(
                forbidden,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method.",
            ),
        }
    }

    /// The access key is unknown or revoked.
    #[must_use]
    pub fn unknown_key(protocol: ServiceProtocol) -> Self {
        match protocol {
            ServiceProtocol::Ec2Query => Self::new(
                StatusCode::UNAUTHORIZED,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials",
            ),
            ServiceProtocol::AwsQuery => Self::new(
                StatusCode::FORBIDDEN,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
        }
    }

    /// Serialises the error in the protocol's shape.
    #[must_use]
    pub fn to_xml(&self, protocol: ServiceProtocol, request_id: &str) -> String {
        let mut w = XmlWriter::new();
        match protocol {
            ServiceProtocol::Ec2Query => {
                w.open("Response");
                w.open("Errors");
                w.open("Error");
                w.element("Code", &self.code);
                w.element("Message", &self.message);
                w.close("Error");
                w.close("Errors");
                w.element("RequestID", request_id);
                w.close("Response");
            }
            ServiceProtocol::AwsQuery => {
                w.open_ns("ErrorResponse", "https://iam.amazonaws.com/doc/2010-05-08/");
                w.open("Error");
                let kind = if self.status.is_server_error() {
                    "Receiver"
                } else {
                    "Sender"
                };
                w.element("Type", kind);
                w.element("Code", &self.code);
                w.element("Message", &self.message);
                w.close("Error");
                w.element("RequestId", request_id);
                w.close("ErrorResponse");
            }
        }
        w.finish()
    }
}

impl From<kumo_core::query::Rejection> for QueryError {
    fn from(r: kumo_core::query::Rejection) -> Self {
        use kumo_core::query::Rejection as R;
        match r {
            R::InvalidParameterValue(m) => Self::client("InvalidParameterValue", m),
            R::InvalidPaginationToken(_) => Self::client("InvalidPaginationToken", r.to_string()),
        }
    }
}

impl QueryError {
    /// A `ClientToken` reused with different parameters.
    #[must_use]
    pub fn idempotent_parameter_mismatch(token: &str) -> Self {
        Self::client(
            "IdempotentParameterMismatch",
            format!(
                "The client token {} was already used with different parameters.",
                token.chars().take(64).collect::<String>()
            ),
        )
    }
}

impl From<kumo_core::ec2::Fault> for QueryError {
    fn from(f: kumo_core::ec2::Fault) -> Self {
        let status = f
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        Self::new(status, f.code, f.message)
    }
}

impl From<kumo_core::Error> for QueryError {
    fn from(err: kumo_core::Error) -> Self {
        use kumo_core::Error as E;
        match err {
            E::Fault(f) => f.into(),
            E::AccessDenied(m) => Self::new(StatusCode::FORBIDDEN, "AccessDenied", m),
            E::InvalidArgument(m) => Self::client("InvalidParameterValue", m),
            E::UnknownAccessKey(_) | E::InactiveAccessKey(_) => {
                Self::unknown_key(ServiceProtocol::AwsQuery)
            }
            other => {
                tracing::error!(error = %other, "internal error");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_shape() {
        let xml = QueryError::unsupported_operation("RunInstances")
            .to_xml(ServiceProtocol::Ec2Query, "req-1");
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>UnsupportedOperation</Code>\
             <Message>The action RunInstances is not supported by this Kumo endpoint yet.</Message></Error></Errors>\
             <RequestID>req-1</RequestID></Response>"
        );
    }

    #[test]
    fn aws_query_shape_and_type() {
        let xml = QueryError::internal().to_xml(ServiceProtocol::AwsQuery, "r<&>");
        assert!(xml.contains("<Type>Receiver</Type>"));
        assert!(xml.contains("<RequestId>r&lt;&amp;&gt;</RequestId>"));
        let xml = QueryError::invalid_action("Nope").to_xml(ServiceProtocol::AwsQuery, "r");
        assert!(xml.contains("<Type>Sender</Type><Code>InvalidAction</Code>"));
    }
}
