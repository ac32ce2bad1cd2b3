//! STS: `GetCallerIdentity`, which the Terraform AWS provider calls first to learn the account.

use kumo_core::iam::Principal;

use crate::xml::XmlWriter;

/// STS's XML namespace.
pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The `GetCallerIdentity` response for `principal`.
#[must_use]
pub fn get_caller_identity(principal: &Principal, request_id: &str) -> String {
    let mut w = XmlWriter::new();
    w.open_ns("GetCallerIdentityResponse", STS_NS);
    w.open("GetCallerIdentityResult");
    w.element("Arn", &principal.arn);
    w.element("UserId", &principal.user_id);
    w.element("Account", &principal.account_id);
    w.close("GetCallerIdentityResult");
    w.open("ResponseMetadata");
    w.element("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close("GetCallerIdentityResponse");
    w.finish()
}
