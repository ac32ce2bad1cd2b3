//! `DescribeAccountAttributes`: the account's platform facts and quotas that clients (the
//! Terraform provider, the console) read before deciding how to create things.

use crate::Error;
use crate::ec2::address::MAX_ELASTIC_IPS;
use crate::ec2::vpc::Vpc;
use crate::ec2::{Ec2, Fault};

/// Most instances an account may run (the quota reported; enforced by the scheduler).
pub const MAX_INSTANCES: u32 = 20;

/// Most security groups per interface.
pub const MAX_SECURITY_GROUPS_PER_INTERFACE: u32 = 5;

/// The attribute names, in AWS's order.
pub const NAMES: &[&str] = &[
    "supported-platforms",
    "default-vpc",
    "max-instances",
    "vpc-max-security-groups-per-interface",
    "max-elastic-ips",
    "vpc-max-elastic-ips",
];

impl Ec2 {
    /// The attributes named (all when `names` is empty), as `(name, values)`.
    pub fn describe_account_attributes(
        &self,
        account: &str,
        names: &[String],
    ) -> Result<Vec<(String, Vec<String>)>, Error> {
        if let Some(bad) = names.iter().find(|n| !NAMES.contains(&n.as_str())) {
            return Err(Fault::invalid_value(format!("Invalid attribute name: {bad}")).into());
        }
        self.ensure_defaults(account)?;
        let default_vpc = self
            .store()
            .scan(account, |v: &Vpc| v.is_default.then(|| v.id.clone()))?
            .into_iter()
            .next()
            .unwrap_or_else(|| "none".into());
        Ok(NAMES
            .iter()
            .filter(|n| names.is_empty() || names.iter().any(|x| x == *n))
            .map(|n| {
                let values = match *n {
                    "supported-platforms" => vec!["VPC".to_owned()],
                    "default-vpc" => vec![default_vpc.clone()],
                    "max-instances" => vec![MAX_INSTANCES.to_string()],
                    "vpc-max-security-groups-per-interface" => {
                        vec![MAX_SECURITY_GROUPS_PER_INTERFACE.to_string()]
                    }
                    "max-elastic-ips" => vec!["0".to_owned()],
                    _ => vec![MAX_ELASTIC_IPS.to_string()],
                };
                ((*n).to_owned(), values)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn attributes() {
        let ec2 = crate::ec2::testing::ec2();
        let all = ec2
            .describe_account_attributes("111111111111", &[])
            .expect("all");
        assert_eq!(all.len(), 6);
        let dv = ec2
            .describe_account_attributes("111111111111", &["default-vpc".into()])
            .expect("one");
        assert!(dv[0].1[0].starts_with("vpc-"));
        assert!(
            ec2.describe_account_attributes("111111111111", &["nope".into()])
                .is_err()
        );
    }
}
