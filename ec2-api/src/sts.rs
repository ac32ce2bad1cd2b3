//! STS: `GetCallerIdentity`, which the Terraform AWS provider calls first to learn the account.

use kumo_core::iam::Principal;

use crate::generated::sts::GetCallerIdentityResponse;

/// The `GetCallerIdentity` answer for `principal`.
#[must_use]
pub fn get_caller_identity(principal: &Principal) -> GetCallerIdentityResponse {
    GetCallerIdentityResponse {
        account: Some(principal.account_id.clone()),
        arn: Some(principal.arn.clone()),
        user_id: Some(principal.user_id.clone()),
    }
}
