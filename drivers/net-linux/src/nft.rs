//! The VPC router's packet filter: one nftables table, rendered whole from the VPC record.
//!
//! The routed design gives every ENI its own link in the VPC namespace, so the *ingress
//! interface* identifies the sender and the filter can trust it where it cannot trust a source
//! address:
//!
//! * anti-spoofing (EC2's source/destination check): a packet from an ENI's link must carry
//!   that ENI's address (`iifname . ip saddr` in the `eni_src` set), checked before conntrack
//!   so a spoofed packet never rides an existing flow;
//! * `forward` is stateful (`inet` family, native conntrack — the bridge family has none on
//!   this kernel) with a verdict map `eni_out` keyed by the *outgoing* ENI link. Today each ENI
//!   maps to `accept` (no security groups yet); issue 6 maps each to `jump` a chain per
//!   security group, without changing this skeleton;
//! * `input` (the router itself) admits DHCP, DNS to the AmazonProvidedDNS address, the
//!   metadata service and ping, nothing else;
//! * IPv6 is dropped (VPCs are IPv4-only for now).
//!
//! The ruleset is applied with one `nft -f` transaction that deletes and recreates the table,
//! so it is atomic and idempotent; conntrack state survives because it is not part of a table.

use kumo_driver_api::NetworkError;

use crate::names::Names;
use crate::state::VpcRecord;

/// The table's name in every VPC namespace.
pub const TABLE: &str = "kumo";

/// Renders the `nft -f` script for a VPC.
pub fn render(names: &Names, record: &VpcRecord) -> Result<String, NetworkError> {
    let mut src = Vec::new();
    let mut out = Vec::new();
    for (eni_id, eni) in &record.enis {
        let link = names.vpc_link(eni_id);
        src.push(format!("\"{link}\" . {}", eni.ip));
        out.push(format!("\"{link}\" : accept"));
    }
    let elements = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!("\n\t\telements = {{ {} }}", v.join(", "))
        }
    };
    Ok(format!(
        "table inet {TABLE}\n\
         delete table inet {TABLE}\n\
         table inet {TABLE} {{\n\
         \tset eni_src {{\n\t\ttype ifname . ipv4_addr{src}\n\t}}\n\
         \tmap eni_out {{\n\t\ttype ifname : verdict{out}\n\t}}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy drop;\n\
         \t\tiifname \"lo\" accept\n\
         \t\tmeta nfproto ipv6 drop\n\
         \t\tudp sport 68 udp dport 67 accept\n\
         \t\tiifname . ip saddr != @eni_src drop\n\
         \t\tct state invalid drop\n\
         \t\tct state established,related accept\n\
         \t\tip daddr 169.254.169.254 tcp dport 80 accept\n\
         {dns}\
         \t\ticmp type echo-request accept\n\
         \t}}\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy drop;\n\
         \t\tmeta nfproto ipv6 drop\n\
         \t\tiifname . ip saddr != @eni_src drop\n\
         \t\tct state invalid drop\n\
         \t\tct state established,related accept\n\
         \t\toifname vmap @eni_out\n\
         \t}}\n\
         }}\n",
        src = elements(&src),
        dns = record
            .dns
            .filter(|_| record.dns_support)
            .map(|d| format!("\t\tip daddr {d} meta l4proto {{ tcp, udp }} th dport 53 accept\n"))
            .unwrap_or_default(),
        out = elements(&out),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EniRecord;

    #[test]
    fn renders_sets_from_the_record() {
        let names = Names::new("kumo");
        let mut rec = VpcRecord::default();
        let empty = render(&names, &rec).expect("renders");
        assert!(!empty.contains("elements"), "{empty}");
        rec.enis.insert(
            "eni-1".into(),
            EniRecord {
                subnet_id: "subnet-1".into(),
                tap: "tap1".into(),
                mac: "02:00:00:00:00:01".into(),
                ip: "10.0.1.10".parse().expect("ip"),
                instance_id: None,
            },
        );
        let one = render(&names, &rec).expect("renders");
        let link = names.vpc_link("eni-1");
        assert!(one.contains(&format!("\"{link}\" . 10.0.1.10")), "{one}");
        assert!(one.contains(&format!("\"{link}\" : accept")), "{one}");
    }
}
