//! Regions and availability zones, from configuration: one region per Kumo endpoint.

use crate::ec2::Ec2;
use crate::query::filter::{Filter, FilterSet, FilterTable};

use super::Fault;

/// A region, as `DescribeRegions` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// `us-east-1`.
    pub name: String,
    /// `opt-in-not-required`.
    pub opt_in_status: &'static str,
}

/// An availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    /// `us-east-1a`.
    pub name: String,
    /// AWS's zone id (`use1-az1`): the region's initials and the zone's position.
    pub id: String,
    /// The region.
    pub region: String,
    /// `available`.
    pub state: &'static str,
}

static REGION_FILTERS: FilterTable<Region> = FilterTable {
    resource: "region",
    fields: &[
        ("region-name", |r, out| out.push(r.name.clone())),
        ("opt-in-status", |r, out| out.push(r.opt_in_status.into())),
        ("endpoint", |r, out| {
            out.push(format!("ec2.{}.amazonaws.com", r.name));
        }),
    ],
    tags: None,
};

static ZONE_FILTERS: FilterTable<Zone> = FilterTable {
    resource: "availability zone",
    fields: &[
        ("zone-name", |z, out| out.push(z.name.clone())),
        ("zone-id", |z, out| out.push(z.id.clone())),
        ("region-name", |z, out| out.push(z.region.clone())),
        ("state", |z, out| out.push(z.state.into())),
        ("zone-type", |_, out| out.push("availability-zone".into())),
        ("group-name", |z, out| out.push(z.region.clone())),
        ("opt-in-status", |_, out| {
            out.push("opt-in-not-required".into())
        }),
    ],
    tags: None,
};

/// AWS's zone id prefix for a region: `us-east-1` → `use1`, `ap-southeast-2` → `apse2`.
fn zone_id_prefix(region: &str) -> String {
    let mut parts = region.split('-');
    let mut out: String = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let mut p = part.to_owned();
        for (word, short) in [
            ("north", "n"),
            ("south", "s"),
            ("east", "e"),
            ("west", "w"),
            ("central", "c"),
        ] {
            p = p.replace(word, short);
        }
        out.push_str(&p);
    }
    out
}

impl Ec2 {
    /// The region this endpoint serves, filtered by name and filters.
    pub fn describe_regions(
        &self,
        names: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Region>, Fault> {
        let set = FilterSet::compile(&REGION_FILTERS, filters)?;
        let region = Region {
            name: self.placement().region.clone(),
            opt_in_status: "opt-in-not-required",
        };
        if let Some(unknown) = names.iter().find(|n| **n != region.name) {
            return Err(Fault::new(
                "InvalidParameterValue",
                format!("Invalid region: {unknown}"),
            ));
        }
        Ok(Some(region)
            .filter(|r| set.matches(r))
            .into_iter()
            .collect())
    }

    /// The region's zones.
    #[must_use]
    pub fn zones(&self) -> Vec<Zone> {
        let p = self.placement();
        let prefix = zone_id_prefix(&p.region);
        p.zones
            .iter()
            .enumerate()
            .map(|(i, z)| Zone {
                name: z.clone(),
                id: format!("{prefix}-az{}", i + 1),
                region: p.region.clone(),
                state: "available",
            })
            .collect()
    }

    /// `DescribeAvailabilityZones`: by name, by id, and by filters.
    pub fn describe_zones(
        &self,
        names: &[String],
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Zone>, Fault> {
        let set = FilterSet::compile(&ZONE_FILTERS, filters)?;
        let zones = self.zones();
        for n in names {
            if !zones.iter().any(|z| z.name == *n) {
                return Err(Fault::invalid_value(format!(
                    "The availability zone '{n}' does not exist in region {}",
                    self.placement().region
                )));
            }
        }
        for n in ids {
            if !zones.iter().any(|z| z.id == *n) {
                return Err(Fault::invalid_value(format!(
                    "The availability zone ID '{n}' does not exist"
                )));
            }
        }
        Ok(zones
            .into_iter()
            .filter(|z| names.is_empty() || names.contains(&z.name))
            .filter(|z| ids.is_empty() || ids.contains(&z.id))
            .filter(|z| set.matches(z))
            .collect())
    }

    /// Checks that `zone` is one of the region's zones.
    pub fn check_zone(&self, zone: &str) -> Result<(), Fault> {
        if self.placement().zones.iter().any(|z| z == zone) {
            Ok(())
        } else {
            Err(Fault::invalid_value(format!(
                "Value ({zone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
                self.placement().zones.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_follow_aws() {
        assert_eq!(zone_id_prefix("us-east-1"), "use1");
        assert_eq!(zone_id_prefix("eu-central-2"), "euc2");
        assert_eq!(zone_id_prefix("ap-southeast-2"), "apse2");
        let ec2 = crate::ec2::testing::ec2();
        let zones = ec2.zones();
        assert_eq!(zones[0].id, "use1-az1");
        let f = vec![Filter {
            name: "zone-name".into(),
            values: vec!["*b".into()],
        }];
        let got = ec2.describe_zones(&[], &[], &f).expect("describe");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "us-east-1b");
        assert!(ec2.describe_zones(&["nope".into()], &[], &[]).is_err());
        assert!(ec2.describe_regions(&[], &[]).expect("regions").len() == 1);
    }
}
